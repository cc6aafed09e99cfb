"""Answer one DNS query from a :class:`~fedns.dnsserver.zone.Zone`, as CoreDNS's etcd
plugin would, plus nearest answers for federated service names.  Pure: no I/O.

This module is the entry point (opcode, EDNS and ECS, zone choice, nearest tiers, the
rcode and the sections); :mod:`fedns.dnsserver.backend` finds a name's services,
:mod:`fedns.dnsserver.lookup` and :mod:`fedns.dnsserver.apex` build the records.
:func:`respond` answers a :class:`~fedns.dnsserver.wire.Query` with the response and
what it read from the zone; :func:`answer` does the same for dnslib records.

CoreDNS semantics followed (plugin/etcd/etcd.go, handler.go, plugin/backend_lookup.go):

- a name's records are every key under ``path/`` (prefix aggregation), else the key
  ``path`` itself, else the name does not exist (NXDOMAIN); ``*`` and ``any`` labels
  are wildcards; ``msg.Group`` filtering; TTL 300 and priority 10 when unset, a
  record on an etcd lease the lease's remaining time, clamped, when its own is unset
  or larger (:mod:`fedns.dnsserver.leases`);
- A/AAAA answers dedup by host and chase CNAMEs inside the zone (a CNAME to the name
  itself or below it is skipped, a repeated target ends a loop, at most 11 CNAMEs); a
  chased CNAME whose target has no address is left out; the zone apex reads
  ``apex.dns.<zone>`` first; TXT, SRV (weights as CoreDNS), MX, PTR and CNAME as the
  plugin builds them; apex NS from ``ns.dns.<zone>`` with glue;
- no records of the type: NOERROR with the SOA in authority (NODATA); unknown name:
  NXDOMAIN with the SOA; AA set, RA clear; other types get NODATA or NXDOMAIN.

Where fedns differs, on purpose (an authoritative server has no upstream):

- a CNAME to a name outside the served zones is answered alone (CoreDNS asks its
  upstream); CNAME and PTR queries for a name that only has keys below it get
  NODATA (CoreDNS: NXDOMAIN, which caches apply to every type); SOA is answered
  only at the apex (CoreDNS answers the zone's SOA for every name); apex NS falls
  back to the configured names when the Store has no ``ns.dns`` records (CoreDNS
  answers NXDOMAIN); the apex and those names are never NXDOMAIN; the SOA serial
  is the Store revision (CoreDNS: the current time); a CNAME, SRV, MX, PTR or NS
  target no DNS message can carry (over 255 octets, say) is left out of the answer
  (CoreDNS writes no response, or one clients cannot read);
- ANY is answered per RFC 8482 with one HINFO "RFC8482"; names outside the zones
  are REFUSED; other opcodes NOTIMP; a malformed query FORMERR; EDNS version > 0
  BADVERS; zone transfers REFUSED;
- a query for a global service name ``S.N.F.svc.D`` from a client in a configured
  site (EDNS Client Subnet, else the source address) gets the addresses of the
  site's zone tier ``S.N.F.svc.Z.R.D``, else its region tier, else all, still owned
  by the query name; the ECS scope is echoed.
"""

from __future__ import annotations

import functools
import ipaddress

from dnslib import DNSRecord

from fedns.dnsserver import apex as apex_mod
from fedns.dnsserver import backend, lookup, names, wire
from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import zone as zone_mod
from fedns.records import desired
from placement import topology

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
OPT_ECS = 8
HINFO_RFC8482 = b"\x07RFC8482\x00"


class _FormErr(Exception):
    """The query is malformed."""


# --- nearest answers ---------------------------------------------------------------


def _nearest(ctx: backend.Context, ref: desired.ServiceRef, owner: wire.Name, qtype: int,
             site: settings_mod.Site) -> tuple[list[wire.RR], str] | None:
    """The nearest tier placement chooses for the site (its zone, else its region) as
    addresses of service ``ref`` owned by the query name, with the tier's name; None
    when the choice is every healthy address (no nearer tier has one of ``qtype``)."""
    where = site.location
    try:
        zone_name = desired.zone_name(ref, ctx.apex_name, where.region, where.zone)
    except desired.skydns.BadName:
        return None  # no tier can be named: every address

    def addresses(tier: topology.Tier) -> list[wire.RR] | None:
        # the region's name is only needed when the zone has no answer (and is valid
        # when the zone's is)
        tier_name = (zone_name if tier.name == topology.ZONE
                     else desired.region_name(ref, ctx.apex_name, tier.region))
        labels = tuple(tier_name.encode().split(b"."))
        try:
            records = backend.services(ctx, labels, False, qtype)
        except (backend.NotFound, backend.Broken):
            return None
        out: list[wire.RR] = []
        seen: set[str] = set()
        for record in records:
            if record.kind == qtype and record.service.host not in seen:
                seen.add(record.service.host)
                out.append(lookup.address_rr(owner, qtype, record.ttl, record.packed))
        return out

    tier, found = topology.nearest(where, addresses)
    return (found, tier.name) if found else None


def _global_ref(ctx: backend.Context, name: names.Labels) -> desired.ServiceRef | None:
    """The service whose global name ``name`` is, or None."""
    return desired.parse_global_name(names.text(name), ctx.apex_name)


# --- EDNS -----------------------------------------------------------------------------


class _Edns:
    __slots__ = ("do", "ecs", "payload", "present", "version")

    def __init__(self) -> None:
        self.present = False
        self.version = 0
        self.do = False
        self.payload = 512
        self.ecs: tuple[int, int, bytes, settings_mod.IPNetwork] | None = None


_NO_EDNS = _Edns()


def _read_edns(query: wire.Query) -> _Edns:
    opts = query.opts
    if len(opts) > 1:
        raise _FormErr("more than one OPT record")
    if not opts:
        return _NO_EDNS
    payload, ttl, options = opts[0]
    edns = _Edns()
    edns.present = True
    edns.payload = max(512, payload)
    edns.version = (ttl >> 16) & 0xFF
    edns.do = bool(ttl & 0x8000)
    for code, data in options:
        if code == OPT_ECS:
            edns.ecs = _read_ecs(data)
    return edns


@functools.lru_cache(maxsize=4096)
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


def _reply(query: wire.Query, rcode: int, aa: bool, edns: _Edns | None,
           settings: settings_mod.Settings, ecs_scope: int | None = None,
           question: bool = True) -> wire.Response:
    flags = query.flags
    bitmap = (0x8000 | (flags & 0x7800) | (0x0400 if aa else 0)
              | (flags & 0x0110) | (rcode & 0xF))  # opcode, RD and CD copied
    opt = None
    if edns is not None and edns.present:
        options = []
        if edns.ecs is not None:
            family, source, address, _ = edns.ecs
            scope = ecs_scope or 0
            options.append((OPT_ECS, family.to_bytes(2, "big") + bytes([source, scope]) + address))
        opt = wire.opt_record(settings.edns_payload, ((rcode >> 4) << 24) | (0x8000 if edns.do else 0),
                              options)
    return wire.Response(query.ident, bitmap, query.questions[0] if question else None, opt=opt)


def unavailable(query: wire.Query, settings: settings_mod.Settings) -> wire.Response:
    """SERVFAIL for ``query``, question and OPT echoed: the zone is not loaded yet,
    and an empty zone must not deny names to caches."""
    try:
        edns: _Edns | None = _read_edns(query)
    except _FormErr:
        edns = None
    return _reply(query, SERVFAIL, False, edns, settings,
                  question=len(query.questions) == 1 and (query.flags >> 11) & 0xF != 5)


@functools.lru_cache(maxsize=64)
def _zone_labels(zones: tuple[str, ...]) -> tuple[names.Labels, ...]:
    return tuple(tuple(zone[:-1].encode().split(b".")) if zone != "." else () for zone in zones)


def _match_zone(settings: settings_mod.Settings, name: names.Labels) -> names.Labels | None:
    best: names.Labels | None = None
    for labels in _zone_labels(settings.zones):
        if names.is_under(name, labels) and (best is None or len(labels) > len(best)):
            best = labels
    return best


class Answer:
    """A response, with what the server needs besides its bytes: the nearest-answer
    tier it came from (``zone``/``region``/``all``, or "" when not a tailored
    answer), the zone key paths it read and whether it holds the SOA serial (what
    can change it, for the response cache)."""

    __slots__ = ("reads", "response", "serial", "tier")

    def __init__(self, response: wire.Response, tier: str = "", reads: list[bytes] | None = None,
                 serial: bool = False) -> None:
        self.response = response
        self.tier = tier
        self.reads: list[bytes] = reads if reads is not None else []
        self.serial = serial


def answer(zone: zone_mod.Zone, request: DNSRecord, client: settings_mod.IPAddress | None,
           settings: settings_mod.Settings) -> DNSRecord:
    """The response to ``request`` from ``client`` (its source address, or None), for
    callers that hold dnslib records: :func:`respond`, written and read back by
    dnslib.  ``fedns_tier`` is set to :attr:`Answer.tier` on answers with records."""
    result = respond(zone, wire.from_dnslib(request), client, settings)
    reply = DNSRecord.parse(wire.encode(result.response))
    if result.tier:
        reply.fedns_tier = result.tier  # type: ignore[attr-defined]
    return reply


def respond(zone: zone_mod.Zone, query: wire.Query, client: settings_mod.IPAddress | None,
            settings: settings_mod.Settings) -> Answer:
    """The answer to ``query`` from ``client`` (its source address, or None)."""
    flags = query.flags
    try:
        edns = _read_edns(query)
    except _FormErr:
        return Answer(_reply(query, FORMERR, False, None, settings, question=False))
    opcode = (flags >> 11) & 0xF
    if opcode != 0:
        # An UPDATE's first section is its zone, not a question: echo nothing then.
        return Answer(_reply(query, NOTIMP, False, edns, settings,
                             question=len(query.questions) == 1 and opcode != 5))
    if len(query.questions) != 1:
        return Answer(_reply(query, FORMERR, False, edns, settings, question=False))
    if edns.version != 0:
        return Answer(_reply(query, BADVERS, False, edns, settings))

    owner, qtype, qclass = query.questions[0]
    name: names.Labels = tuple(map(bytes.lower, owner))
    apex = _match_zone(settings, name)
    if qclass != 1 or apex is None or qtype in (wire.T_AXFR, wire.T_IXFR):
        return Answer(_reply(query, REFUSED, False, edns, settings))
    ctx = backend.Context(zone, settings, apex, qtype)
    response, tier = _lookup(ctx, query, edns, client, name, owner)
    return Answer(response, tier, ctx.reads, ctx.serial)


def _lookup(ctx: backend.Context, query: wire.Query, edns: _Edns,
            client: settings_mod.IPAddress | None, name: names.Labels,
            owner: wire.Name) -> tuple[wire.Response, str]:
    """The response to a question inside a served zone, and its nearest-answer tier."""
    settings, apex, qtype = ctx.settings, ctx.apex, ctx.qtype
    # Nearest answers: the ECS network decides, else the packet source.
    site: settings_mod.Site | None = None
    scope = 0
    # the service of a global name, parsed once (the nearest tier's names need it)
    ref = _global_ref(ctx, name) if qtype in (wire.T_A, wire.T_AAAA) and settings.sites else None
    tailored = ref is not None
    if tailored:
        if edns.ecs is not None:
            site, scope = settings.site_of_network(edns.ecs[3])
        elif client is not None:
            found = settings.site_of(client)
            site = found[0] if found else None

    records: list[wire.RR] = []
    extra: list[wire.RR] = []
    tier = topology.ALL if tailored else ""
    try:
        flat = b"".join(name)
        if b"/" in flat or b"." in flat:
            raise backend.NotFound  # cannot be a key
        if qtype in (wire.T_A, wire.T_AAAA):
            nearest = (_nearest(ctx, ref, owner, qtype, site)
                       if site is not None and ref is not None else None)
            if nearest is not None:
                records, tier = nearest
            else:
                try:
                    records = lookup.addresses(ctx, name, owner, qtype, [])
                except backend.NotFound:
                    synthetic = apex_mod.synthetic_ns_addresses(ctx, name, owner, qtype)
                    if synthetic is None:
                        raise
                    records = synthetic
        elif qtype == wire.T_TXT:
            records = lookup.texts(ctx, name, owner, qtype, [])
        elif qtype == wire.T_CNAME:
            records = lookup.cname(ctx, name, owner)
        elif qtype == wire.T_PTR:
            records = lookup.ptr(ctx, name, owner)
        elif qtype == wire.T_MX:
            records, extra = lookup.mx(ctx, name, owner)
        elif qtype == wire.T_SRV:
            records, extra = lookup.srv(ctx, name, owner)
        elif qtype == wire.T_SOA and name == apex:
            records = [apex_mod.soa(ctx)]
        elif qtype == wire.T_NS and name == apex:
            records, extra = apex_mod.ns(ctx, owner)
        else:
            # CoreDNS: a fake A lookup tells NODATA from NXDOMAIN.
            if name != apex or qtype != wire.T_ANY:
                backend.apex_or_services(ctx, name, qtype)
            if qtype == wire.T_ANY:
                records = [(owner, wire.T_HINFO, settings.any_ttl, (HINFO_RFC8482,))]
    except backend.NotFound:
        # The apex and the configured NS names exist even with no keys for them.
        exists = name == apex or apex_mod.synthetic_ns_addresses(ctx, name, owner, qtype) is not None
        reply = _reply(query, NOERROR if exists else NXDOMAIN, True, edns, settings,
                       scope if tailored else 0)
        reply.authority.append(apex_mod.soa(ctx))
        return reply, ""
    except backend.Broken:
        reply = _reply(query, SERVFAIL, True, edns, settings, scope if tailored else 0)
        reply.authority.append(apex_mod.soa(ctx))
        return reply, ""

    reply = _reply(query, NOERROR, True, edns, settings, scope if tailored else 0)
    if not records:
        reply.authority.append(apex_mod.soa(ctx))
        return reply, ""
    reply.answer = records
    reply.additional = extra
    return reply, tier
