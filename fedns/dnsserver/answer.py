"""Answer one DNS query from a :class:`~fedns.dnsserver.zone.Zone`, as CoreDNS's etcd
plugin would, plus nearest answers for federated service names.  Pure: no I/O.

CoreDNS semantics followed (plugin/etcd/etcd.go, handler.go, plugin/backend_lookup.go):

- a name's records are every key under ``path/`` (prefix aggregation), else the key
  ``path`` itself, else the name does not exist (NXDOMAIN); ``*`` and ``any`` labels
  are wildcards; ``msg.Group`` filtering; TTL 300 and priority 10 when unset;
- A/AAAA answers dedup by host and chase CNAMEs inside the zone (a CNAME to the name
  itself or below it is skipped, a repeated target ends a loop, at most 8 CNAMEs); a
  chased CNAME whose target has no address is left out; the zone apex reads
  ``apex.dns.<zone>`` first; TXT, SRV (weights as CoreDNS), MX, PTR and CNAME as the
  plugin builds them; apex NS from ``ns.dns.<zone>`` with glue;
- no records of the type: NOERROR with the SOA in authority (NODATA); unknown name:
  NXDOMAIN with the SOA; AA set, RA clear; other types get NODATA or NXDOMAIN.

Where fedns differs, on purpose (an authoritative server has no upstream):

- a CNAME to a name outside the served zones is answered alone (CoreDNS asks its
  upstream); CNAME and PTR queries for a name that only has keys below it get
  NODATA (CoreDNS: NXDOMAIN, which caches apply to every type); SOA is answered only at the apex (CoreDNS answers the zone's SOA for
  every name); apex NS falls back to the configured names when the Store has no
  ``ns.dns`` records (CoreDNS answers NXDOMAIN); the SOA serial is the Store
  revision (CoreDNS: the current time);
- ANY is answered per RFC 8482 with one HINFO "RFC8482"; names outside the zones
  are REFUSED; other opcodes NOTIMP; a malformed query FORMERR; EDNS version > 0
  BADVERS; zone transfers REFUSED;
- a query for a global service name ``S.N.F.svc.D`` from a client in a configured
  site (EDNS Client Subnet, else the source address) gets the addresses of the
  site's zone tier ``S.N.F.svc.Z.R.D``, else its region tier, else all, still owned
  by the query name; the ECS scope is echoed.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable

from dnslib import (
    AAAA,
    CNAME,
    EDNS0,
    MX,
    NS,
    PTR,
    RD,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSHeader,
    DNSLabel,
    DNSRecord,
    EDNSOption,
)

from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import zone as zone_mod
from fedns.records import desired

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_HINFO, T_MX, T_TXT = 1, 2, 5, 6, 12, 13, 15, 16
T_AAAA, T_SRV, T_OPT, T_IXFR, T_AXFR, T_ANY = 28, 33, 41, 251, 252, 255
OPT_ECS = 8
# CoreDNS adds no CNAME once more than 7 records precede it in the chain.
MAX_CHAIN = 7

Labels = tuple[bytes, ...]  # lowercase, leaf first, no root label


class _NameError(Exception):
    """The name has no key (CoreDNS errKeyNotFound)."""


class _ServFail(Exception):
    """A value under the name does not decode (CoreDNS returns the JSON error)."""


class _FormErr(Exception):
    """The query is malformed."""


class _Context:
    """What one query needs while it is answered."""

    __slots__ = ("apex", "apex_name", "qtype", "root", "settings", "zone")

    def __init__(self, zone: zone_mod.Zone, settings: settings_mod.Settings, apex: Labels,
                 qtype: int) -> None:
        self.zone = zone
        self.settings = settings
        self.apex = apex
        self.apex_name = _text(apex)
        self.root = zone.prefix
        self.qtype = qtype


# --- names -----------------------------------------------------------------------


def _text(labels: Labels) -> str:
    return ".".join(label.decode("utf-8", "replace") for label in labels) + "." if labels else "."


def _parse_host(host: str) -> tuple[Labels, DNSLabel, str] | None:
    """``host`` as lookup labels, a DNS name and its fqdn text; None if not a name."""
    fqdn = host if host.endswith(".") else host + "."
    if fqdn == ".":
        return (), DNSLabel(()), "."
    raw = tuple(fqdn[:-1].encode("utf-8", "surrogateescape").split(b"."))
    if any(not label or len(label) > 63 for label in raw) or len(fqdn) > 254:
        return None
    return tuple(label.lower() for label in raw), DNSLabel(raw), fqdn


def _is_under(name: Labels, parent: Labels) -> bool:
    """``name`` is ``parent`` or below it."""
    return len(name) >= len(parent) and name[len(name) - len(parent):] == parent


def _key_name(ctx: _Context, key: bytes, strip: int) -> DNSLabel:
    """The DNS name of ``key`` (CoreDNS msg.Domain), minus ``strip`` leading labels."""
    parts = key[len(ctx.root) + 1:].split(b"/")
    if parts and parts[-1] == b"":
        parts.pop()
    parts.reverse()
    if 0 < strip < len(parts):  # CoreDNS keeps the name when the strip overshoots
        parts = parts[strip:]
    return DNSLabel(parts)


# --- CoreDNS's Records(): prefix aggregation, wildcards, loopNodes, Group -----------


def _services(ctx: _Context, name: Labels, exact: bool, qtype: int) -> list[zone_mod.Record]:
    rev = list(reversed(name))
    star = False
    for i, label in enumerate(rev):
        if label in (b"*", b"any"):
            rev, star = rev[:i], True
            break
    path = b"/".join([ctx.root, *rev])
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
        raise _NameError
    if star:
        segments = b"/".join([ctx.root, *reversed(name)]).split(b"/")
        records = [r for r in records if _star_match(segments, r.key.split(b"/"))]
    out = []
    for record in records:
        if record.kind == 0:
            raise _ServFail(record.error)
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


def _apex_or_services(ctx: _Context, name: Labels, qtype: int) -> list[zone_mod.Record]:
    """CoreDNS checkForApex: the apex's own records live under ``apex.dns``."""
    if name == ctx.apex:
        try:
            return _services(ctx, (b"apex", b"dns", *ctx.apex), False, qtype)
        except (_NameError, _ServFail):
            pass
    return _services(ctx, name, False, qtype)


# --- record builders (CoreDNS backend_lookup.go) ----------------------------------


def _address(owner: DNSLabel, rtype: int, ttl: int, address: str) -> RR:
    return RR(owner, rtype, ttl=ttl, rdata=A(address) if rtype == T_A else AAAA(address))


def _chase(ctx: _Context, name: Labels, owner: DNSLabel, qtype: int, previous: list[RR],
           lookup: Callable[[_Context, Labels, DNSLabel, int, list[RR]], list[RR]],
           record: zone_mod.Record) -> list[RR]:
    """Follow one CNAME-type record the way CoreDNS's A/AAAA/TXT do."""
    target = _parse_host(record.service.host)
    if target is None:
        return []
    labels, target_name, fqdn = target
    if _is_under(labels, name):  # x CNAME x (or below x) is a loop
        return []
    if len(previous) > MAX_CHAIN:
        return []
    if any(rr.rtype == T_CNAME and str(rr.rdata.label) == fqdn for rr in previous):
        return []
    cname = RR(owner, T_CNAME, ttl=record.ttl, rdata=CNAME(target_name))
    if not _is_under(labels, ctx.apex):
        return [cname]  # outside the zone: the resolver follows it
    try:
        following = lookup(ctx, labels, target_name, qtype, [*previous, cname])
    except (_NameError, _ServFail):
        return []
    return [cname, *following] if following else []


def _addresses(ctx: _Context, name: Labels, owner: DNSLabel, qtype: int,
               previous: list[RR]) -> list[RR]:
    """CoreDNS plugin.A / plugin.AAAA."""
    out: list[RR] = []
    seen: set[str] = set()
    for record in _apex_or_services(ctx, name, qtype):
        if record.kind == T_CNAME:
            out.extend(_chase(ctx, name, owner, qtype, previous, _addresses, record))
        elif record.kind == qtype and record.service.host not in seen:
            seen.add(record.service.host)
            out.append(_address(owner, qtype, record.ttl, record.address))
    return out


def _split255(text: str) -> list[bytes]:
    data = text.encode("utf-8", "surrogateescape")
    if len(data) < 255:
        return [data]
    # As Go's split255: chunks of 255 bytes, and an empty one after an exact multiple.
    return [data[i:i + 255] for i in range(0, len(data) + 1, 255)]


def _texts(ctx: _Context, name: Labels, owner: DNSLabel, qtype: int,
           previous: list[RR]) -> list[RR]:
    """CoreDNS plugin.TXT."""
    out: list[RR] = []
    seen: set[str] = set()
    for record in _services(ctx, name, False, T_TXT):
        if record.kind == T_CNAME:
            out.extend(_chase(ctx, name, owner, T_TXT, previous, _texts, record))
        elif record.kind == T_TXT and record.service.text not in seen:
            seen.add(record.service.text)
            out.append(RR(owner, T_TXT, ttl=record.ttl, rdata=TXT(_split255(record.service.text))))
    return out


def _target(ctx: _Context, record: zone_mod.Record) -> tuple[DNSLabel, Labels] | None:
    parsed = _parse_host(record.service.host)
    if parsed is None:
        return None
    labels, name, _ = parsed
    strip = record.service.targetstrip
    if 0 < strip < len(labels):
        labels, name = labels[strip:], DNSLabel(name.label[strip:])
    return name, labels


def _glue(ctx: _Context, labels: Labels, name: DNSLabel) -> list[RR]:
    if not _is_under(labels, ctx.apex):
        return []  # CoreDNS would ask its upstream
    try:
        return _addresses(ctx, labels, name, T_A, [])
    except (_NameError, _ServFail):
        return []


def _srv(ctx: _Context, name: Labels, owner: DNSLabel) -> tuple[list[RR], list[RR]]:
    """CoreDNS plugin.SRV: weights shared per priority, IP targets named by their key."""
    records = _services(ctx, name, False, T_SRV)
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
            target = _target(ctx, record)
            if target is None:
                continue
            target_name, labels = target
            answer.append(RR(owner, T_SRV, ttl=record.ttl,
                             rdata=SRV(priority, weight, port, target_name)))
            if str(target_name) not in looked_up:
                looked_up.add(str(target_name))
                extra.extend(_glue(ctx, labels, target_name))
        elif record.kind in (T_A, T_AAAA):
            target_name = _key_name(ctx, record.key, service.targetstrip)
            text = str(target_name).lower()
            if (text, port, "") not in dup:
                dup.add((text, port, ""))
                answer.append(RR(owner, T_SRV, ttl=record.ttl,
                                 rdata=SRV(priority, weight, port, target_name)))
            if (text, 0, service.host) not in dup:
                dup.add((text, 0, service.host))
                extra.append(_address(target_name, record.kind, record.ttl, record.address))
    return answer, extra


def _mx(ctx: _Context, name: Labels, owner: DNSLabel) -> tuple[list[RR], list[RR]]:
    """CoreDNS plugin.MX."""
    answer: list[RR] = []
    extra: list[RR] = []
    dup: set[tuple[str, int, str]] = set()
    looked_up: set[str] = set()
    for record in _services(ctx, name, False, T_MX):
        service = record.service
        if not service.mail:
            continue
        preference = record.priority & 0xFFFF
        if record.kind == T_CNAME:
            target = _target(ctx, record)
            if target is None:
                continue
            target_name, labels = target
            answer.append(RR(owner, T_MX, ttl=record.ttl, rdata=MX(target_name, preference)))
            if str(target_name) not in looked_up:
                looked_up.add(str(target_name))
                extra.extend(_glue(ctx, labels, target_name))
        elif record.kind in (T_A, T_AAAA):
            target_name = _key_name(ctx, record.key, service.targetstrip)
            text = str(target_name).lower()
            if (text, preference, "") not in dup:
                dup.add((text, preference, ""))
                answer.append(RR(owner, T_MX, ttl=record.ttl, rdata=MX(target_name, preference)))
            if (text, 0, service.host) not in dup:
                dup.add((text, 0, service.host))
                extra.append(_address(target_name, record.kind, record.ttl, record.address))
    return answer, extra


def _exact(ctx: _Context, name: Labels, qtype: int) -> list[zone_mod.Record]:
    """The exact key's services.  CoreDNS answers NXDOMAIN when only keys below the
    name exist; fedns answers NODATA then, since NXDOMAIN denies every type of an
    existing name to caches (RFC 2308)."""
    try:
        return _services(ctx, name, True, qtype)
    except _NameError:
        _apex_or_services(ctx, name, qtype)  # raises _NameError if nothing is there
        return []


def _cname(ctx: _Context, name: Labels, owner: DNSLabel) -> list[RR]:
    """CoreDNS plugin.CNAME: the exact key's first service, when its host is a name."""
    records = _exact(ctx, name, T_CNAME)
    if records and not records[0].address:
        parsed = _parse_host(records[0].service.host)
        if parsed is not None:
            return [RR(owner, T_CNAME, ttl=records[0].ttl, rdata=CNAME(parsed[1]))]
    return []


def _ptr(ctx: _Context, name: Labels, owner: DNSLabel) -> list[RR]:
    """CoreDNS plugin.PTR: exact key, hosts that are names."""
    out: list[RR] = []
    seen: set[str] = set()
    for record in _exact(ctx, name, T_PTR):
        if record.address or record.service.host in seen:
            continue
        seen.add(record.service.host)
        parsed = _parse_host(record.service.host)
        if parsed is not None:
            out.append(RR(owner, T_PTR, ttl=record.ttl, rdata=PTR(parsed[1])))
    return out


def _soa(ctx: _Context) -> RR:
    settings = ctx.settings
    ttl = min(300, settings.negative_ttl)
    mname = settings.nameservers(ctx.apex_name)[0]
    rname = f"{settings.hostmaster}.{ctx.apex_name}" if ctx.apex else f"{settings.hostmaster}."
    serial = ctx.zone.revision & 0xFFFFFFFF
    return RR(DNSLabel(ctx.apex), T_SOA, ttl=ttl,
              rdata=SOA(mname, rname, (serial, 7200, 1800, 86400, settings.negative_ttl)))


def _ns(ctx: _Context, owner: DNSLabel) -> tuple[list[RR], list[RR]]:
    """Apex NS: CoreDNS's ``ns.dns.<zone>`` records, else the configured names."""
    try:
        records = _services(ctx, (b"ns", b"dns", *ctx.apex), False, T_NS)
    except _NameError:
        return _synthetic_ns(ctx, owner)
    answer: list[RR] = []
    extra: list[RR] = []
    seen: set[str] = set()
    for record in records:
        if record.kind == T_CNAME:
            raise _ServFail("NS record must be an IP address")
        if record.kind in (T_A, T_AAAA):
            name = _key_name(ctx, record.key, record.service.targetstrip)
            extra.append(_address(name, record.kind, record.ttl, record.address))
            if str(name).lower() not in seen:
                seen.add(str(name).lower())
                answer.append(RR(owner, T_NS, ttl=record.ttl, rdata=NS(name)))
    return answer, extra


def _synthetic_ns(ctx: _Context, owner: DNSLabel) -> tuple[list[RR], list[RR]]:
    settings = ctx.settings
    answer, extra = [], []
    for text in settings.nameservers(ctx.apex_name):
        parsed = _parse_host(text)
        if parsed is None:
            continue
        labels, name, _ = parsed
        answer.append(RR(owner, T_NS, ttl=settings.ns_ttl, rdata=NS(name)))
        if _is_under(labels, ctx.apex):
            for address in settings.ns_addresses:
                ip = ipaddress.ip_address(address)
                extra.append(_address(name, T_A if ip.version == 4 else T_AAAA,
                                      settings.ns_ttl, str(ip)))
    return answer, extra


def _synthetic_ns_addresses(ctx: _Context, name: Labels, owner: DNSLabel,
                            qtype: int) -> list[RR] | None:
    """A/AAAA for a configured in-zone NS name the Store does not hold; None if the
    name is not one of them."""
    settings = ctx.settings
    for text in settings.nameservers(ctx.apex_name):
        parsed = _parse_host(text)
        if parsed is not None and parsed[0] == name and _is_under(name, ctx.apex):
            out = []
            for address in settings.ns_addresses:
                ip = ipaddress.ip_address(address)
                if (T_A if ip.version == 4 else T_AAAA) == qtype:
                    out.append(_address(owner, qtype, settings.ns_ttl, str(ip)))
            return out
    return None


# --- nearest answers ---------------------------------------------------------------


def _nearest(ctx: _Context, name: Labels, owner: DNSLabel, qtype: int,
             site: settings_mod.Site) -> list[RR] | None:
    """The site's zone tier, else its region tier, as addresses owned by the query
    name; None when neither has a healthy address of ``qtype``."""
    ref = desired.parse_global_name(_text(name), ctx.apex_name)
    if ref is None:
        return None
    try:
        tiers = [desired.zone_name(ref, ctx.apex_name, site.region, site.zone),
                 desired.region_name(ref, ctx.apex_name, site.region)]
    except desired.skydns.BadName:
        return None
    for tier in tiers:
        labels = tuple(tier.encode().split(b"."))
        try:
            records = _services(ctx, labels, False, qtype)
        except (_NameError, _ServFail):
            continue
        out: list[RR] = []
        seen: set[str] = set()
        for record in records:
            if record.kind == qtype and record.service.host not in seen:
                seen.add(record.service.host)
                out.append(_address(owner, qtype, record.ttl, record.address))
        if out:
            return out
    return None


def _is_global_name(ctx: _Context, name: Labels) -> bool:
    return desired.parse_global_name(_text(name), ctx.apex_name) is not None


# --- EDNS -----------------------------------------------------------------------------


class _Edns:
    __slots__ = ("do", "ecs", "payload", "present", "version")

    def __init__(self) -> None:
        self.present = False
        self.version = 0
        self.do = False
        self.payload = 512
        self.ecs: tuple[int, int, bytes, settings_mod.IPNetwork] | None = None


def _read_edns(request: DNSRecord) -> _Edns:
    edns = _Edns()
    opts = [rr for rr in request.ar if rr.rtype == T_OPT]
    if len(opts) > 1:
        raise _FormErr("more than one OPT record")
    if not opts:
        return edns
    opt = opts[0]
    edns.present = True
    edns.payload = max(512, opt.rclass)
    edns.version = (opt.ttl >> 16) & 0xFF
    edns.do = bool(opt.ttl & 0x8000)
    for option in opt.rdata if isinstance(opt.rdata, list) else []:
        if option.code == OPT_ECS:
            edns.ecs = _read_ecs(bytes(option.data))
    return edns


def _read_ecs(data: bytes) -> tuple[int, int, bytes, settings_mod.IPNetwork]:
    """RFC 7871 option data → (family, source length, address bytes, network)."""
    if len(data) < 4:
        raise _FormErr("short ECS option")
    family = int.from_bytes(data[:2], "big")
    source, scope, address = data[2], data[3], data[4:]
    width = {1: 4, 2: 16}.get(family)
    if width is None or source > width * 8 or scope != 0:
        raise _FormErr("bad ECS family, source or scope")
    if len(address) != (source + 7) // 8:
        raise _FormErr("ECS address length does not match its prefix")
    padded = int.from_bytes(address.ljust(width, b"\0"), "big")
    if padded & ((1 << (width * 8 - source)) - 1):
        raise _FormErr("ECS address has bits beyond its prefix")
    ip = ipaddress.ip_address(padded) if width == 4 else ipaddress.IPv6Address(padded)
    network = ipaddress.ip_network(f"{ip}/{source}")
    return family, source, address, network


# --- the entry point ---------------------------------------------------------------------


def _reply(request: DNSRecord, rcode: int, aa: bool, edns: _Edns | None,
           settings: settings_mod.Settings, ecs_scope: int | None = None,
           question: bool = True) -> DNSRecord:
    header = request.header
    bitmap = (0x8000 | (header.bitmap & 0x7800) | (0x0400 if aa else 0)
              | (header.bitmap & 0x0110) | (rcode & 0xF))  # opcode, RD and CD copied
    reply = DNSRecord(DNSHeader(id=header.id, bitmap=bitmap),
                      questions=list(request.questions) if question else [])
    if edns is not None and edns.present:
        options = []
        if edns.ecs is not None:
            family, source, address, _ = edns.ecs
            scope = ecs_scope or 0
            options.append(EDNSOption(OPT_ECS, family.to_bytes(2, "big") + bytes([source, scope])
                                      + address))
        reply.add_ar(EDNS0(udp_len=settings.edns_payload, ext_rcode=rcode >> 4,
                           flags="do" if edns.do else "", opts=options))
    return reply


def unavailable(request: DNSRecord, settings: settings_mod.Settings) -> DNSRecord:
    """SERVFAIL for ``request``, question and OPT echoed: the zone is not loaded yet,
    and an empty zone must not deny names to caches."""
    try:
        edns: _Edns | None = _read_edns(request)
    except _FormErr:
        edns = None
    return _reply(request, SERVFAIL, False, edns, settings,
                  question=len(request.questions) == 1 and request.header.opcode != 5)


def _match_zone(settings: settings_mod.Settings, name: Labels) -> Labels | None:
    best: Labels | None = None
    for zone in settings.zones:
        labels = tuple(zone[:-1].encode().split(b".")) if zone != "." else ()
        if _is_under(name, labels) and (best is None or len(labels) > len(best)):
            best = labels
    return best


def answer(zone: zone_mod.Zone, request: DNSRecord, client: settings_mod.IPAddress | None,
           settings: settings_mod.Settings) -> DNSRecord:
    """The response to ``request`` from ``client`` (its source address, or None)."""
    header = request.header
    try:
        edns = _read_edns(request)
    except _FormErr:
        return _reply(request, FORMERR, False, None, settings, question=False)
    if header.opcode != 0:
        # An UPDATE's first section is its zone, not a question: echo nothing then.
        return _reply(request, NOTIMP, False, edns, settings,
                      question=len(request.questions) == 1 and header.opcode != 5)
    if len(request.questions) != 1:
        return _reply(request, FORMERR, False, edns, settings, question=False)
    if edns.version != 0:
        return _reply(request, BADVERS, False, edns, settings)

    question = request.questions[0]
    qtype, qclass = question.qtype, question.qclass
    owner = question.qname
    name: Labels = tuple(label.lower() for label in owner.label)
    apex = _match_zone(settings, name)
    if qclass != 1 or apex is None or qtype in (T_AXFR, T_IXFR):
        return _reply(request, REFUSED, False, edns, settings)
    ctx = _Context(zone, settings, apex, qtype)

    # Nearest answers: the ECS network decides, else the packet source.
    site: settings_mod.Site | None = None
    scope = 0
    tailored = qtype in (T_A, T_AAAA) and bool(settings.sites) and _is_global_name(ctx, name)
    if tailored:
        if edns.ecs is not None:
            site, scope = settings.site_of_network(edns.ecs[3])
        elif client is not None:
            found = settings.site_of(client)
            site = found[0] if found else None

    records: list[RR] = []
    extra: list[RR] = []
    try:
        if any(b"/" in label or b"." in label for label in name):
            raise _NameError  # cannot be a key
        if qtype in (T_A, T_AAAA):
            nearest = _nearest(ctx, name, owner, qtype, site) if site is not None else None
            if nearest is not None:
                records = nearest
            else:
                try:
                    records = _addresses(ctx, name, owner, qtype, [])
                except _NameError:
                    synthetic = _synthetic_ns_addresses(ctx, name, owner, qtype)
                    if synthetic is None:
                        raise
                    records = synthetic
        elif qtype == T_TXT:
            records = _texts(ctx, name, owner, qtype, [])
        elif qtype == T_CNAME:
            records = _cname(ctx, name, owner)
        elif qtype == T_PTR:
            records = _ptr(ctx, name, owner)
        elif qtype == T_MX:
            records, extra = _mx(ctx, name, owner)
        elif qtype == T_SRV:
            records, extra = _srv(ctx, name, owner)
        elif qtype == T_SOA and name == apex:
            records = [_soa(ctx)]
        elif qtype == T_NS and name == apex:
            records, extra = _ns(ctx, owner)
        else:
            # CoreDNS: a fake A lookup tells NODATA from NXDOMAIN.
            if name != apex or qtype != T_ANY:
                _apex_or_services(ctx, name, qtype)
            if qtype == T_ANY:
                records = [RR(owner, T_HINFO, ttl=settings.any_ttl, rdata=RD(b"\x07RFC8482\x00"))]
    except _NameError:
        # The apex and the configured NS names exist even with no keys for them.
        exists = name == apex or _synthetic_ns_addresses(ctx, name, owner, qtype) is not None
        reply = _reply(request, NOERROR if exists else NXDOMAIN, True, edns, settings,
                       scope if tailored else 0)
        reply.add_auth(_soa(ctx))
        return reply
    except _ServFail:
        reply = _reply(request, SERVFAIL, True, edns, settings, scope if tailored else 0)
        reply.add_auth(_soa(ctx))
        return reply

    reply = _reply(request, NOERROR, True, edns, settings, scope if tailored else 0)
    if not records:
        reply.add_auth(_soa(ctx))
        return reply
    reply.rr.extend(records)
    reply.ar[:0] = extra  # before the OPT record
    reply.set_header_qa()
    return reply
