"""The records one federated service should have, from its members' state.

Given the federation topology (every member's :class:`placement.topology.Location`)
and, per member, the service's addresses, health and named ports, :func:`records`
returns every key and value fedns wants in the Store for that service.  It does no I/O and does not diff;
:mod:`fedns.records.plan` does.

Names (DESIGN.md, "DNS names and records"), for service S in namespace N of
federation F under domain D:

- ``S.N.F.svc.D``: one leaf per healthy target, ``<member>/<ip-with-dashes>``, so
  CoreDNS's prefix aggregation gives every target and ``<member>.S.N.F.svc.D`` one
  member's targets;
- ``S.N.F.svc.R.D`` for every region R of the topology: leaves for the healthy
  targets in R, else a CNAME value ``{"host":"S.N.F.svc.D.","ttl":T}`` at the exact
  key and no leaves;
- ``S.N.F.svc.Z.R.D`` for every zone Z of R: leaves for the healthy targets in Z,
  else a CNAME to ``S.N.F.svc.R.D.``;
- ``_<port>._<proto>.S.N.F.svc.D`` for every named port: leaves
  ``<member>/<ip-with-dashes>`` with host, port and TTL.

Why SRV leaves do not disturb A answers in CoreDNS: they live under the service's
own prefix, so an A query for ``S.N.F.svc.D`` aggregates them too.  Their key's
first label is the address leaf, not ``_...``, so CoreDNS's ``HostType`` treats them
as addresses; but every SRV leaf carries exactly the host (and TTL) of an address
leaf of the same target, and CoreDNS's ``A``/``AAAA`` drop a service whose host was
already answered.  The address answer set is therefore unchanged.

When no target is healthy anywhere the service has no records at all: every name
of it is NXDOMAIN.  A CNAME chain ending in a missing name would give CoreDNS a
NODATA answer without the CNAME, which resolvers cache no better and explain worse.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

from fedns.records import skydns
from placement import topology as topology_mod

DEFAULT_TTL = 30

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class UnknownMember(skydns.RecordError):
    """A member's state names a member that is not in the federation topology."""


class BadAddress(skydns.RecordError):
    """A member reported an address that is not an IP address."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceRef:
    """One federated service: federation F, namespace N, service name S."""

    federation: str
    namespace: str
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class NamedPort:
    """A Service port with a name (unnamed ports get no SRV records)."""

    name: str
    protocol: str
    port: int


@dataclasses.dataclass(frozen=True, slots=True)
class MemberState:
    """The service as one member sees it: its external addresses, whether the
    (service, member) pair is healthy, and its named ports."""

    member: str
    addresses: tuple[str, ...] = ()
    healthy: bool = False
    ports: tuple[NamedPort, ...] = ()


# --- names -----------------------------------------------------------------------


# Names, labels and leaves repeat across every reconcile of a service: the pure
# helpers below are memoized (bounded), as records() runs on every reconcile.
_memo = functools.lru_cache(maxsize=1 << 16)


@_memo
def _label(text: str, what: str) -> str:
    label = text.lower()
    if not _LABEL.match(label):
        raise skydns.BadName(f"{what} {text!r} is not a DNS label (a-z, 0-9, '-', 1-63)")
    return label


@_memo
def _domain(domain: str) -> str:
    labels = skydns.split_name(domain.lower())
    if not labels:
        raise skydns.BadName("the domain is empty")
    return ".".join(labels)


@_memo
def global_name(ref: ServiceRef, domain: str) -> str:
    """``S.N.F.svc.D`` (no trailing dot)."""
    return ".".join([_label(ref.name, "service"), _label(ref.namespace, "namespace"),
                     _label(ref.federation, "federation"), "svc", _domain(domain)])


def region_name(ref: ServiceRef, domain: str, region: str) -> str:
    """``S.N.F.svc.R.D``."""
    return global_name(ref, f"{_label(region, 'region')}.{_domain(domain)}")


def zone_name(ref: ServiceRef, domain: str, region: str, zone: str) -> str:
    """``S.N.F.svc.Z.R.D``."""
    return global_name(ref, f"{_label(zone, 'zone')}.{_label(region, 'region')}.{_domain(domain)}")


def member_name(ref: ServiceRef, domain: str, member: str) -> str:
    """``C.S.N.F.svc.D``."""
    return f"{_label(member, 'member')}.{global_name(ref, domain)}"


def srv_name(ref: ServiceRef, domain: str, port: NamedPort) -> str:
    """``_<port>._<proto>.S.N.F.svc.D``."""
    return (f"_{_label(port.name, 'port name')}._{_label(port.protocol, 'protocol')}."
            f"{global_name(ref, domain)}")


def parse_global_name(name: str, domain: str) -> ServiceRef | None:
    """The service whose global name is ``name`` (any case, trailing dot optional),
    or None when ``name`` is not ``S.N.F.svc.D``."""
    labels = name.lower().rstrip(".").split(".")
    tail = _domain(domain).split(".")
    if len(labels) != len(tail) + 4 or labels[len(labels) - len(tail):] != tail:
        return None
    if labels[3] != "svc" or not all(labels[:3]):
        return None
    return ServiceRef(federation=labels[2], namespace=labels[1], name=labels[0])


# --- records ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    member: str
    region: str
    zone: str
    address: str
    ports: tuple[NamedPort, ...]


def _targets(topology: Mapping[str, topology_mod.Location], states: Iterable[MemberState]) -> list[_Target]:
    targets: list[_Target] = []
    for state in states:
        where = topology.get(state.member.lower())
        if where is None:
            raise UnknownMember(f"member {state.member!r} is not in the federation topology")
        if not state.healthy:
            continue
        seen: set[str] = set()
        for text in state.addresses:
            try:
                address = _address(text)
            except ValueError as err:
                raise BadAddress(
                    f"member {state.member!r}: {text!r} is not an IP address") from err
            if address not in seen:
                seen.add(address)
                targets.append(_Target(where.member, where.region, where.zone, address,
                                       state.ports))
    return targets


@_memo
def _address(text: str) -> str:
    """``text`` as an IP address in its canonical form; ValueError if it is not one."""
    return str(ipaddress.ip_address(text))


@_memo
def _value(host: str, port: int, ttl: int) -> str:
    return skydns.Service(host=host, port=port, ttl=ttl).to_json()


_key = _memo(skydns.name_to_key)
_leaf = _memo(skydns.leaf_label)


def _leaves(name: str, targets: Iterable[_Target], ttl: int, prefix: str,
            port: int = 0) -> dict[str, str]:
    base = _key(name, prefix)
    return {f"{base}/{t.member}/{_leaf(t.address)}": _value(t.address, port, ttl)
            for t in targets}


def _cname(name: str, target: str, ttl: int, prefix: str) -> dict[str, str]:
    return {_key(name, prefix): _value(target + ".", 0, ttl)}


def records(ref: ServiceRef, domain: str, topology: Sequence[topology_mod.Location],
            states: Iterable[MemberState], ttl: int = DEFAULT_TTL,
            prefix: str = skydns.DEFAULT_PREFIX) -> dict[str, str]:
    """Every key → JSON value the service should have (see the module docstring).

    ``topology`` lists every member of the federation; ``states`` the members that
    run the service.  Raises :class:`UnknownMember`, :class:`BadAddress` or
    :class:`skydns.BadName` for input that cannot be published.
    """
    if not 1 <= ttl <= 2**31 - 1:
        raise skydns.BadValue(f"TTL {ttl} is out of range (1..2147483647)")
    where = {}
    for loc in topology:
        loc = topology_mod.Location(_label(loc.member, "member"), loc.site,
                                    _label(loc.region, "region"), _label(loc.zone, "zone"))
        where[loc.member] = loc
    targets = _targets(where, states)
    if not targets:
        return {}

    top = global_name(ref, domain)
    out = _leaves(top, targets, ttl, prefix)
    for target in targets:
        for port in target.ports:
            if not 1 <= port.port <= 65535:
                raise skydns.BadValue(f"port {port.name!r}: {port.port} is out of range")
            out.update(_leaves(srv_name(ref, domain, port), [target], ttl, prefix, port.port))

    regions = sorted({(loc.region, loc.zone) for loc in where.values()})
    for region in sorted({r for r, _ in regions}):
        name = region_name(ref, domain, region)
        inside = [t for t in targets if t.region == region]
        out.update(_leaves(name, inside, ttl, prefix) if inside
                   else _cname(name, top, ttl, prefix))
    for region, zone in regions:
        name = zone_name(ref, domain, region, zone)
        inside = [t for t in targets if t.region == region and t.zone == zone]
        out.update(_leaves(name, inside, ttl, prefix) if inside
                   else _cname(name, region_name(ref, domain, region), ttl, prefix))
    return out
