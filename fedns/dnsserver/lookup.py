"""Each type's records for a name, built as CoreDNS builds them from the services.  Pure.

CoreDNS's plugin/backend_lookup.go ``A``, ``AAAA``, ``TXT``, ``SRV``, ``MX``, ``CNAME``
and ``PTR`` over the services :mod:`fedns.dnsserver.backend` finds: CNAME chasing
inside the zone, dedup by host, SRV weights, glue for SRV and MX targets.  A target
no DNS message can carry (:func:`fedns.dnsserver.names.writable`: a host over 255
octets in UTF-8, say, or an address at a key that deep) is left out with its glue,
as a host that is not a name is; CoreDNS does not check, and fails to write the
response.  Records come out as :mod:`fedns.dnsserver.wire` tuples, not dnslib
objects; names are still compared as dnslib's text of them
(:func:`fedns.dnsserver.names.name_text`), so the answers are what they were.
:class:`~fedns.dnsserver.backend.NotFound` and :class:`~fedns.dnsserver.backend.Broken`
pass through to the caller.

Not for: the apex's SOA and NS (:mod:`fedns.dnsserver.apex`), or rcodes and sections
(:mod:`fedns.dnsserver.answer`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from fedns.dnsserver import backend, names, wire
from fedns.dnsserver import zone as zone_mod

# CoreDNS (1.12.1 and later: plugin/backend_lookup.go maxCnameChainLength) adds no
# CNAME once more than 10 records precede it in the chain: at most 11 CNAMEs.
MAX_CHAIN = 10


def address_rr(owner: wire.Name, rtype: int, ttl: int, packed: bytes) -> wire.RR:
    """An A or AAAA record; ``packed`` is the address in network order."""
    return (owner, rtype, ttl, (packed,))


Follow = Callable[[backend.Context, names.Labels, wire.Name, int, list[wire.RR]], list[wire.RR]]


def _chase(ctx: backend.Context, name: names.Labels, owner: wire.Name, qtype: int,
           previous: list[wire.RR], follow: Follow, record: zone_mod.Record) -> list[wire.RR]:
    """Follow one CNAME-type record the way CoreDNS's A/AAAA/TXT do."""
    target = names.parse_host(record.service.host)
    if target is None:
        return []
    labels, target_name, fqdn = target
    if names.is_under(labels, name):  # x CNAME x (or below x) is a loop
        return []
    if len(previous) > MAX_CHAIN:
        return []
    if any(rr[1] == wire.T_CNAME and names.name_text(rr[3][0]) == fqdn  # type: ignore[arg-type]
           for rr in previous):
        return []
    cname: wire.RR = (owner, wire.T_CNAME, record.ttl, (target_name,))
    if not names.is_under(labels, ctx.apex):
        return [cname]  # outside the zone: the resolver follows it
    try:
        following = follow(ctx, labels, target_name, qtype, [*previous, cname])
    except (backend.NotFound, backend.Broken):
        return []
    return [cname, *following] if following else []


def addresses(ctx: backend.Context, name: names.Labels, owner: wire.Name, qtype: int,
              previous: list[wire.RR]) -> list[wire.RR]:
    """CoreDNS plugin.A / plugin.AAAA."""
    out: list[wire.RR] = []
    seen: set[str] = set()
    for record in backend.apex_or_services(ctx, name, qtype):
        if record.kind == wire.T_CNAME:
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


def texts(ctx: backend.Context, name: names.Labels, owner: wire.Name, qtype: int,
          previous: list[wire.RR]) -> list[wire.RR]:
    """CoreDNS plugin.TXT."""
    out: list[wire.RR] = []
    seen: set[str] = set()
    for record in backend.services(ctx, name, False, wire.T_TXT):
        if record.kind == wire.T_CNAME:
            out.extend(_chase(ctx, name, owner, wire.T_TXT, previous, texts, record))
        elif record.kind == wire.T_TXT and record.service.text not in seen:
            seen.add(record.service.text)
            out.append((owner, wire.T_TXT, record.ttl, (_txt_rdata(record.service.text),)))
    return out


def _target(record: zone_mod.Record) -> tuple[wire.Name, names.Labels] | None:
    parsed = names.parse_host(record.service.host)
    if parsed is None:
        return None
    labels, name, _ = parsed
    strip = record.service.targetstrip
    if 0 < strip < len(labels):
        labels, name = labels[strip:], name[strip:]
    return name, labels


def _glue(ctx: backend.Context, labels: names.Labels, name: wire.Name) -> list[wire.RR]:
    if not names.is_under(labels, ctx.apex):
        return []  # CoreDNS would ask its upstream
    try:
        return addresses(ctx, labels, name, wire.T_A, [])
    except (backend.NotFound, backend.Broken):
        return []


_SRV_HEAD = struct.Struct("!HHH")
_U16 = struct.Struct("!H")


def srv(ctx: backend.Context, name: names.Labels,
        owner: wire.Name) -> tuple[list[wire.RR], list[wire.RR]]:
    """CoreDNS plugin.SRV: weights shared per priority, IP targets named by their key."""
    records = backend.services(ctx, name, False, wire.T_SRV)
    totals: dict[int, int] = {}
    for record in records:
        totals[record.priority] = totals.get(record.priority, 0) + (record.service.weight or 100)
    answer: list[wire.RR] = []
    extra: list[wire.RR] = []
    dup: set[tuple[str, int, str]] = set()
    looked_up: set[str] = set()
    for record in records:
        service = record.service
        if service.port == -1:
            continue
        share = 100.0 / (totals[record.priority] or 1) * (service.weight or 100)
        weight = math.floor(share) & 0xFFFF or 1
        priority, port = record.priority & 0xFFFF, service.port & 0xFFFF
        if record.kind == wire.T_CNAME:
            target = _target(record)
            if target is None:
                continue
            target_name, labels = target
            answer.append((owner, wire.T_SRV, record.ttl,
                           (_SRV_HEAD.pack(priority, weight, port) + wire.plain_name(target_name),)))
            if names.name_text(target_name) not in looked_up:
                looked_up.add(names.name_text(target_name))
                extra.extend(_glue(ctx, labels, target_name))
        elif record.kind in (wire.T_A, wire.T_AAAA):
            named = names.key_name(ctx.root, record.key, service.targetstrip)
            if named is None:
                continue
            target_name, text = named
            if (text, port, "") not in dup:
                dup.add((text, port, ""))
                answer.append((owner, wire.T_SRV, record.ttl,
                               (_SRV_HEAD.pack(priority, weight, port)
                                + wire.plain_name(target_name),)))
            if (text, 0, service.host) not in dup:
                dup.add((text, 0, service.host))
                extra.append(address_rr(target_name, record.kind, record.ttl, record.packed))
    return answer, extra


def mx(ctx: backend.Context, name: names.Labels,
       owner: wire.Name) -> tuple[list[wire.RR], list[wire.RR]]:
    """CoreDNS plugin.MX."""
    answer: list[wire.RR] = []
    extra: list[wire.RR] = []
    dup: set[tuple[str, int, str]] = set()
    looked_up: set[str] = set()
    for record in backend.services(ctx, name, False, wire.T_MX):
        service = record.service
        if not service.mail:
            continue
        preference = record.priority & 0xFFFF
        if record.kind == wire.T_CNAME:
            target = _target(record)
            if target is None:
                continue
            target_name, labels = target
            answer.append((owner, wire.T_MX, record.ttl, (_U16.pack(preference), target_name)))
            if names.name_text(target_name) not in looked_up:
                looked_up.add(names.name_text(target_name))
                extra.extend(_glue(ctx, labels, target_name))
        elif record.kind in (wire.T_A, wire.T_AAAA):
            named = names.key_name(ctx.root, record.key, service.targetstrip)
            if named is None:
                continue
            target_name, text = named
            if (text, preference, "") not in dup:
                dup.add((text, preference, ""))
                answer.append((owner, wire.T_MX, record.ttl, (_U16.pack(preference), target_name)))
            if (text, 0, service.host) not in dup:
                dup.add((text, 0, service.host))
                extra.append(address_rr(target_name, record.kind, record.ttl, record.packed))
    return answer, extra


def cname(ctx: backend.Context, name: names.Labels, owner: wire.Name) -> list[wire.RR]:
    """CoreDNS plugin.CNAME: the exact key's first service, when its host is a name."""
    records = backend.exact_services(ctx, name, wire.T_CNAME)
    if records and not records[0].address:
        parsed = names.parse_host(records[0].service.host)
        if parsed is not None:
            return [(owner, wire.T_CNAME, records[0].ttl, (parsed.name,))]
    return []


def ptr(ctx: backend.Context, name: names.Labels, owner: wire.Name) -> list[wire.RR]:
    """CoreDNS plugin.PTR: exact key, hosts that are names."""
    out: list[wire.RR] = []
    seen: set[str] = set()
    for record in backend.exact_services(ctx, name, wire.T_PTR):
        if record.address or record.service.host in seen:
            continue
        seen.add(record.service.host)
        parsed = names.parse_host(record.service.host)
        if parsed is not None:
            out.append((owner, wire.T_PTR, record.ttl, (parsed.name,)))
    return out
