"""The zone apex's records: SOA, NS with glue, the configured NS names' addresses.  Pure.

CoreDNS's ``SOA`` and ``NS`` (plugin/backend_lookup.go): NS from the Store's
``ns.dns.<zone>`` keys with their addresses as glue.  Where fedns adds to CoreDNS:
with no such keys, NS comes from the configured names (``Settings.nameservers``) and
their A/AAAA from ``Settings.ns_addresses``, so the apex always has an NS set; the
SOA serial is the zone's Store revision (noted in the :class:`~fedns.dnsserver.backend.Context`, for
the response cache).

Not for: records of other names (:mod:`fedns.dnsserver.lookup`).
"""

from __future__ import annotations

import functools
import ipaddress
import struct

from fedns.dnsserver import backend, lookup, names, wire

_SOA_TIMES = struct.Struct("!IIIII")


def soa(ctx: backend.Context) -> wire.RR:
    settings = ctx.settings
    ttl = min(300, settings.negative_ttl)
    mname = settings.nameservers(ctx.apex_name)[0]
    rname = f"{settings.hostmaster}.{ctx.apex_name}" if ctx.apex else f"{settings.hostmaster}."
    ctx.serial = True
    serial = ctx.zone.revision & 0xFFFFFFFF
    return (ctx.apex, wire.T_SOA, ttl,
            (names.text_name(mname), names.text_name(rname),
             _SOA_TIMES.pack(serial, 7200, 1800, 86400, settings.negative_ttl)))


def ns(ctx: backend.Context, owner: wire.Name) -> tuple[list[wire.RR], list[wire.RR]]:
    """Apex NS: CoreDNS's ``ns.dns.<zone>`` records, else the configured names."""
    try:
        records = backend.services(ctx, (b"ns", b"dns", *ctx.apex), False, wire.T_NS)
    except backend.NotFound:
        return _synthetic_ns(ctx, owner)
    answer: list[wire.RR] = []
    extra: list[wire.RR] = []
    seen: set[str] = set()
    for record in records:
        if record.kind == wire.T_CNAME:
            raise backend.Broken("NS record must be an IP address")
        if record.kind in (wire.T_A, wire.T_AAAA):
            named = names.key_name(ctx.root, record.key, record.service.targetstrip)
            if named is None:
                continue  # no NS record can name it
            name, text = named
            extra.append(lookup.address_rr(name, record.kind, record.ttl, record.packed))
            if text not in seen:
                seen.add(text)
                answer.append((owner, wire.T_NS, record.ttl, (name,)))
    return answer, extra


@functools.lru_cache(maxsize=64)
def _ns_addresses(addresses: tuple[str, ...]) -> tuple[tuple[int, bytes], ...]:
    """The configured NS addresses as (A or AAAA, packed)."""
    ips = [ipaddress.ip_address(address) for address in addresses]
    return tuple((wire.T_A if ip.version == 4 else wire.T_AAAA, ip.packed) for ip in ips)


def _synthetic_ns(ctx: backend.Context,
                  owner: wire.Name) -> tuple[list[wire.RR], list[wire.RR]]:
    settings = ctx.settings
    answer: list[wire.RR] = []
    extra: list[wire.RR] = []
    for text in settings.nameservers(ctx.apex_name):
        parsed = names.parse_host(text)
        if parsed is None:
            continue
        labels, name, _ = parsed
        answer.append((owner, wire.T_NS, settings.ns_ttl, (name,)))
        if names.is_under(labels, ctx.apex):
            for rtype, packed in _ns_addresses(settings.ns_addresses):
                extra.append(lookup.address_rr(name, rtype, settings.ns_ttl, packed))
    return answer, extra


def synthetic_ns_addresses(ctx: backend.Context, name: names.Labels, owner: wire.Name,
                           qtype: int) -> list[wire.RR] | None:
    """A/AAAA for a configured in-zone NS name the Store does not hold; None if the
    name is not one of them."""
    settings = ctx.settings
    for text in settings.nameservers(ctx.apex_name):
        parsed = names.parse_host(text)
        if parsed is not None and parsed[0] == name and names.is_under(name, ctx.apex):
            return [lookup.address_rr(owner, qtype, settings.ns_ttl, packed)
                    for rtype, packed in _ns_addresses(settings.ns_addresses) if rtype == qtype]
    return None
