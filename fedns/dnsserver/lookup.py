"""CoreDNS's etcd-plugin lookups over a :class:`~fedns.dnsserver.zone.Zone`.  Pure.

How a name's records are found (plugin/etcd/etcd.go ``Records``/``get``/``loopNodes``,
msg.Group, checkForApex) and how each type's answer is built from them
(plugin/backend_lookup.go ``A``, ``AAAA``, ``TXT``, ``SRV``, ``MX``, ``CNAME``, ``PTR``,
``NS``, ``SOA``).  A missing name raises :class:`NotFound`, a value that does not
decode :class:`Broken`; :mod:`fedns.dnsserver.answer` turns those into rcodes.

Records come out as :mod:`fedns.dnsserver.wire` tuples, not dnslib objects; names
are still compared as dnslib's text of them, so the answers are what they were.
What depends only on a host, a key or the settings (parsed names) is memoized.
Each :func:`services` call notes the key path it read in the :class:`Context`, for
the response cache.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import struct
from collections.abc import Callable
from typing import NamedTuple

from dnslib import DNSLabel
from dnslib.label import LDH

from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import wire
from fedns.dnsserver import zone as zone_mod

T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_HINFO, T_MX, T_TXT = 1, 2, 5, 6, 12, 13, 15, 16
T_AAAA, T_SRV, T_OPT, T_IXFR, T_AXFR, T_ANY = 28, 33, 41, 251, 252, 255
# CoreDNS adds no CNAME once more than 7 records precede it in the chain.
MAX_CHAIN = 7

Labels = tuple[bytes, ...]  # lowercase, leaf first, no root label
RR = wire.RR
MEMO = 16_384  # entries per memoized name helper
_PRINTABLE = bytes(sorted(LDH))  # the bytes dnslib writes as they are in a name's text


class NotFound(Exception):
    """The name has no key (CoreDNS errKeyNotFound)."""


class Broken(Exception):
    """A value under the name does not decode (CoreDNS returns the JSON error)."""


class Context:
    """What one query needs while it is answered, and what it read from the zone:
    ``reads``, the key paths looked up (every :func:`services` call reads the keys at
    and under one path), and ``serial``, whether the answer holds the SOA serial."""

    __slots__ = ("apex", "apex_name", "qtype", "reads", "root", "serial", "settings", "zone")

    def __init__(self, zone: zone_mod.Zone, settings: settings_mod.Settings, apex: Labels,
                 qtype: int) -> None:
        self.zone = zone
        self.settings = settings
        self.apex = apex
        self.apex_name = _apex_text(apex)
        self.root = zone.prefix
        self.qtype = qtype
        self.reads: list[bytes] = []
        self.serial = False


# --- names -----------------------------------------------------------------------


def text(labels: Labels) -> str:
    # One decode of the joined labels: "." ends any broken UTF-8 sequence, so this is
    # the labels decoded one by one.
    return b".".join(labels).decode("utf-8", "replace") + "." if labels else "."


class Host(NamedTuple):
    """A host that is a DNS name: lookup labels, the name as written, its fqdn text."""

    labels: Labels
    name: wire.Name
    fqdn: str


@functools.lru_cache(maxsize=64)
def _apex_text(apex: Labels) -> str:
    return text(apex)


@functools.lru_cache(maxsize=MEMO)
def parse_host(host: str) -> Host | None:
    """``host`` as a :class:`Host`; None if not a name."""
    fqdn = host if host.endswith(".") else host + "."
    if fqdn == ".":
        return Host((), (), ".")
    raw = tuple(fqdn[:-1].encode("utf-8", "surrogateescape").split(b"."))
    if any(not label or len(label) > 63 for label in raw) or len(fqdn) > 254:
        return None
    return Host(tuple(label.lower() for label in raw), raw, fqdn)


def name_text(name: wire.Name) -> str:
    """dnslib's text of ``name`` (what the answers used to compare): its labels as
    they are when every byte is printable ASCII, else escaped by dnslib."""
    joined = b".".join(name)
    if not joined.translate(None, _PRINTABLE):
        return joined.decode() + "."
    return str(DNSLabel(name))


@functools.lru_cache(maxsize=256)
def text_name(text: str) -> wire.Name:
    """A name given as text (settings), as dnslib reads it."""
    return DNSLabel(text).label


def is_under(name: Labels, parent: Labels) -> bool:
    """``name`` is ``parent`` or below it."""
    return len(name) >= len(parent) and name[len(name) - len(parent):] == parent


@functools.lru_cache(maxsize=MEMO)
def _key_name(root: bytes, key: bytes, strip: int) -> tuple[wire.Name, str]:
    """The DNS name of ``key`` (CoreDNS msg.Domain), minus ``strip`` leading labels,
    and its text in lowercase."""
    parts = key[len(root) + 1:].split(b"/")
    if parts and parts[-1] == b"":
        parts.pop()
    parts.reverse()
    if 0 < strip < len(parts):  # CoreDNS keeps the name when the strip overshoots
        parts = parts[strip:]
    name = tuple(parts)
    return name, name_text(name).lower()


# --- CoreDNS's Records(): prefix aggregation, wildcards, loopNodes, Group -----------


def services(ctx: Context, name: Labels, exact: bool, qtype: int) -> list[zone_mod.Record]:
    rev = list(reversed(name))
    star = False
    if b"*" in name or b"any" in name:
        for i, label in enumerate(rev):
            if label in (b"*", b"any"):
                rev, star = rev[:i], True
                break
    rev.insert(0, ctx.root)
    path = b"/".join(rev)
    ctx.reads.append(path)
    zone = ctx.zone
    if exact:
        found = zone.get(path)
        records = [found] if found is not None else []
    else:
        records = zone.under(path + b"/")
        if not records:
            found = zone.get(path)
            records = [found] if found is not None else []
    if not records:
        raise NotFound
    if star:
        segments = b"/".join([ctx.root, *reversed(name)]).split(b"/")
        records = [r for r in records if _star_match(segments, r.key.split(b"/"))]
    out = []
    for record in records:
        if record.kind == 0:
            raise Broken(record.error)
        service = record.service
        if (qtype == T_TXT and service.text) or service.host:
            out.append(record)
    return _group(out)


def _star_match(segments: list[bytes], key_parts: list[bytes]) -> bool:
    for i, segment in enumerate(segments):
        if i > len(key_parts) - 1:
            return False
        if segment in (b"*", b"any"):
            continue
        if key_parts[i] != segment:
            return False
    return True


def _group(records: list[zone_mod.Record]) -> list[zone_mod.Record]:
    """CoreDNS msg.Group: a group set on the shortest keys limits the answer to it."""
    if not records:
        return records
    group = records[0].service.group
    slashes = records[0].depth
    lengths = [0] * len(records)
    for i, record in enumerate(records):
        depth = record.depth
        lengths[i] = depth
        if depth < slashes:
            if not record.service.group:
                break
            slashes = depth
            group = record.service.group
    if not group:
        return records
    out = []
    for i, record in enumerate(records):
        if not record.service.group:
            out.append(record)
            continue
        if lengths[i] == slashes and record.service.group != group:
            return records
        if record.service.group == group:
            out.append(record)
    return out


def apex_or_services(ctx: Context, name: Labels, qtype: int) -> list[zone_mod.Record]:
    """CoreDNS checkForApex: the apex's own records live under ``apex.dns``."""
    if name == ctx.apex:
        try:
            return services(ctx, (b"apex", b"dns", *ctx.apex), False, qtype)
        except (NotFound, Broken):
            pass
    return services(ctx, name, False, qtype)


# --- record builders (CoreDNS backend_lookup.go) ----------------------------------


def address_rr(owner: wire.Name, rtype: int, ttl: int, packed: bytes) -> RR:
    """An A or AAAA record; ``packed`` is the address in network order."""
    return (owner, rtype, ttl, (packed,))


def _chase(ctx: Context, name: Labels, owner: wire.Name, qtype: int, previous: list[RR],
           follow: Callable[[Context, Labels, wire.Name, int, list[RR]], list[RR]],
           record: zone_mod.Record) -> list[RR]:
    """Follow one CNAME-type record the way CoreDNS's A/AAAA/TXT do."""
    target = parse_host(record.service.host)
    if target is None:
        return []
    labels, target_name, fqdn = target
    if is_under(labels, name):  # x CNAME x (or below x) is a loop
        return []
    if len(previous) > MAX_CHAIN:
        return []
    if any(rr[1] == T_CNAME and name_text(rr[3][0]) == fqdn  # type: ignore[arg-type]
           for rr in previous):
        return []
    cname: RR = (owner, T_CNAME, record.ttl, (target_name,))
    if not is_under(labels, ctx.apex):
        return [cname]  # outside the zone: the resolver follows it
    try:
        following = follow(ctx, labels, target_name, qtype, [*previous, cname])
    except (NotFound, Broken):
        return []
    return [cname, *following] if following else []


def addresses(ctx: Context, name: Labels, owner: wire.Name, qtype: int,
              previous: list[RR]) -> list[RR]:
    """CoreDNS plugin.A / plugin.AAAA."""
    out: list[RR] = []
    seen: set[str] = set()
    for record in apex_or_services(ctx, name, qtype):
        if record.kind == T_CNAME:
            out.extend(_chase(ctx, name, owner, qtype, previous, addresses, record))
        elif record.kind == qtype and record.service.host not in seen:
            seen.add(record.service.host)
            out.append((owner, qtype, record.ttl, (record.packed,)))
    return out


def _split255(text: str) -> list[bytes]:
    data = text.encode("utf-8", "surrogateescape")
    if len(data) < 255:
        return [data]
    # As Go's split255: chunks of 255 bytes, and an empty one after an exact multiple.
    return [data[i:i + 255] for i in range(0, len(data) + 1, 255)]


def _txt_rdata(text: str) -> bytes:
    return b"".join(bytes((len(chunk),)) + chunk for chunk in _split255(text))


def texts(ctx: Context, name: Labels, owner: wire.Name, qtype: int,
          previous: list[RR]) -> list[RR]:
    """CoreDNS plugin.TXT."""
    out: list[RR] = []
    seen: set[str] = set()
    for record in services(ctx, name, False, T_TXT):
        if record.kind == T_CNAME:
            out.extend(_chase(ctx, name, owner, T_TXT, previous, texts, record))
        elif record.kind == T_TXT and record.service.text not in seen:
            seen.add(record.service.text)
            out.append((owner, T_TXT, record.ttl, (_txt_rdata(record.service.text),)))
    return out


def _target(record: zone_mod.Record) -> tuple[wire.Name, Labels] | None:
    parsed = parse_host(record.service.host)
    if parsed is None:
        return None
    labels, name, _ = parsed
    strip = record.service.targetstrip
    if 0 < strip < len(labels):
        labels, name = labels[strip:], name[strip:]
    return name, labels


def _glue(ctx: Context, labels: Labels, name: wire.Name) -> list[RR]:
    if not is_under(labels, ctx.apex):
        return []  # CoreDNS would ask its upstream
    try:
        return addresses(ctx, labels, name, T_A, [])
    except (NotFound, Broken):
        return []


_SRV_HEAD = struct.Struct("!HHH")
_U16 = struct.Struct("!H")


def srv(ctx: Context, name: Labels, owner: wire.Name) -> tuple[list[RR], list[RR]]:
    """CoreDNS plugin.SRV: weights shared per priority, IP targets named by their key."""
    records = services(ctx, name, False, T_SRV)
    totals: dict[int, int] = {}
    for record in records:
        totals[record.priority] = totals.get(record.priority, 0) + (record.service.weight or 100)
    answer: list[RR] = []
    extra: list[RR] = []
    dup: set[tuple[str, int, str]] = set()
    looked_up: set[str] = set()
    for record in records:
        service = record.service
        if service.port == -1:
            continue
        share = 100.0 / (totals[record.priority] or 1) * (service.weight or 100)
        weight = math.floor(share) & 0xFFFF or 1
        priority, port = record.priority & 0xFFFF, service.port & 0xFFFF
        if record.kind == T_CNAME:
            target = _target(record)
            if target is None:
                continue
            target_name, labels = target
            answer.append((owner, T_SRV, record.ttl,
                           (_SRV_HEAD.pack(priority, weight, port) + wire.plain_name(target_name),)))
            if name_text(target_name) not in looked_up:
                looked_up.add(name_text(target_name))
                extra.extend(_glue(ctx, labels, target_name))
        elif record.kind in (T_A, T_AAAA):
            target_name, text = _key_name(ctx.root, record.key, service.targetstrip)
            if (text, port, "") not in dup:
                dup.add((text, port, ""))
                answer.append((owner, T_SRV, record.ttl,
                               (_SRV_HEAD.pack(priority, weight, port)
                                + wire.plain_name(target_name),)))
            if (text, 0, service.host) not in dup:
                dup.add((text, 0, service.host))
                extra.append(address_rr(target_name, record.kind, record.ttl, record.packed))
    return answer, extra


def mx(ctx: Context, name: Labels, owner: wire.Name) -> tuple[list[RR], list[RR]]:
    """CoreDNS plugin.MX."""
    answer: list[RR] = []
    extra: list[RR] = []
    dup: set[tuple[str, int, str]] = set()
    looked_up: set[str] = set()
    for record in services(ctx, name, False, T_MX):
        service = record.service
        if not service.mail:
            continue
        preference = record.priority & 0xFFFF
        if record.kind == T_CNAME:
            target = _target(record)
            if target is None:
                continue
            target_name, labels = target
            answer.append((owner, T_MX, record.ttl, (_U16.pack(preference), target_name)))
            if name_text(target_name) not in looked_up:
                looked_up.add(name_text(target_name))
                extra.extend(_glue(ctx, labels, target_name))
        elif record.kind in (T_A, T_AAAA):
            target_name, text = _key_name(ctx.root, record.key, service.targetstrip)
            if (text, preference, "") not in dup:
                dup.add((text, preference, ""))
                answer.append((owner, T_MX, record.ttl, (_U16.pack(preference), target_name)))
            if (text, 0, service.host) not in dup:
                dup.add((text, 0, service.host))
                extra.append(address_rr(target_name, record.kind, record.ttl, record.packed))
    return answer, extra


def _exact(ctx: Context, name: Labels, qtype: int) -> list[zone_mod.Record]:
    """The exact key's services.  CoreDNS answers NXDOMAIN when only keys below the
    name exist; fedns answers NODATA then, since NXDOMAIN denies every type of an
    existing name to caches (RFC 2308)."""
    try:
        return services(ctx, name, True, qtype)
    except NotFound:
        apex_or_services(ctx, name, qtype)  # raises NotFound if nothing is there
        return []


def cname(ctx: Context, name: Labels, owner: wire.Name) -> list[RR]:
    """CoreDNS plugin.CNAME: the exact key's first service, when its host is a name."""
    records = _exact(ctx, name, T_CNAME)
    if records and not records[0].address:
        parsed = parse_host(records[0].service.host)
        if parsed is not None:
            return [(owner, T_CNAME, records[0].ttl, (parsed.name,))]
    return []


def ptr(ctx: Context, name: Labels, owner: wire.Name) -> list[RR]:
    """CoreDNS plugin.PTR: exact key, hosts that are names."""
    out: list[RR] = []
    seen: set[str] = set()
    for record in _exact(ctx, name, T_PTR):
        if record.address or record.service.host in seen:
            continue
        seen.add(record.service.host)
        parsed = parse_host(record.service.host)
        if parsed is not None:
            out.append((owner, T_PTR, record.ttl, (parsed.name,)))
    return out


_SOA_TIMES = struct.Struct("!IIIII")


def soa(ctx: Context) -> RR:
    settings = ctx.settings
    ttl = min(300, settings.negative_ttl)
    mname = settings.nameservers(ctx.apex_name)[0]
    rname = f"{settings.hostmaster}.{ctx.apex_name}" if ctx.apex else f"{settings.hostmaster}."
    ctx.serial = True
    serial = ctx.zone.revision & 0xFFFFFFFF
    return (ctx.apex, T_SOA, ttl,
            (text_name(mname), text_name(rname),
             _SOA_TIMES.pack(serial, 7200, 1800, 86400, settings.negative_ttl)))


def ns(ctx: Context, owner: wire.Name) -> tuple[list[RR], list[RR]]:
    """Apex NS: CoreDNS's ``ns.dns.<zone>`` records, else the configured names."""
    try:
        records = services(ctx, (b"ns", b"dns", *ctx.apex), False, T_NS)
    except NotFound:
        return _synthetic_ns(ctx, owner)
    answer: list[RR] = []
    extra: list[RR] = []
    seen: set[str] = set()
    for record in records:
        if record.kind == T_CNAME:
            raise Broken("NS record must be an IP address")
        if record.kind in (T_A, T_AAAA):
            name, text = _key_name(ctx.root, record.key, record.service.targetstrip)
            extra.append(address_rr(name, record.kind, record.ttl, record.packed))
            if text not in seen:
                seen.add(text)
                answer.append((owner, T_NS, record.ttl, (name,)))
    return answer, extra


@functools.lru_cache(maxsize=64)
def _ns_addresses(addresses: tuple[str, ...]) -> tuple[tuple[int, bytes], ...]:
    """The configured NS addresses as (A or AAAA, packed)."""
    ips = [ipaddress.ip_address(address) for address in addresses]
    return tuple((T_A if ip.version == 4 else T_AAAA, ip.packed) for ip in ips)


def _synthetic_ns(ctx: Context, owner: wire.Name) -> tuple[list[RR], list[RR]]:
    settings = ctx.settings
    answer: list[RR] = []
    extra: list[RR] = []
    for text in settings.nameservers(ctx.apex_name):
        parsed = parse_host(text)
        if parsed is None:
            continue
        labels, name, _ = parsed
        answer.append((owner, T_NS, settings.ns_ttl, (name,)))
        if is_under(labels, ctx.apex):
            for rtype, packed in _ns_addresses(settings.ns_addresses):
                extra.append(address_rr(name, rtype, settings.ns_ttl, packed))
    return answer, extra


def synthetic_ns_addresses(ctx: Context, name: Labels, owner: wire.Name,
                           qtype: int) -> list[RR] | None:
    """A/AAAA for a configured in-zone NS name the Store does not hold; None if the
    name is not one of them."""
    settings = ctx.settings
    for text in settings.nameservers(ctx.apex_name):
        parsed = parse_host(text)
        if parsed is not None and parsed[0] == name and is_under(name, ctx.apex):
            return [address_rr(owner, qtype, settings.ns_ttl, packed)
                    for rtype, packed in _ns_addresses(settings.ns_addresses) if rtype == qtype]
    return None
