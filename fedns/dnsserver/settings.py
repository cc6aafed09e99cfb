"""Settings of the embedded DNS server: its zones, apex records, sites and limits.

Grouped, frozen dataclasses built once by the CLI or the config loader and passed to
the pure :func:`fedns.dnsserver.answer.answer`.  Also the client → site lookup for
nearest answers, which is pure arithmetic on the configured subnets.  No I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from fedns import errors
from fedns.records import skydns
from placement import topology

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BadSettings(errors.UsageError):
    """The DNS server settings are not valid."""


@dataclasses.dataclass(frozen=True, slots=True)
class Site:
    """Clients in ``subnets`` are where ``location`` is: nearest to its zone, then its
    region (:func:`placement.topology.nearest`)."""

    location: topology.Location
    subnets: tuple[IPNetwork, ...]

    @property
    def name(self) -> str:
        return self.location.site

    @property
    def region(self) -> str:
        return self.location.region

    @property
    def zone(self) -> str:
        return self.location.zone

    @classmethod
    def make(cls, name: str, region: str, zone: str, subnets: list[str] | tuple[str, ...],
             member: str = "") -> Site:
        """Site ``name`` at the location of ``member`` (default: the member named like
        the site), from text subnets; raises :class:`BadSettings`."""
        nets = []
        for text in subnets:
            try:
                nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError as err:
                raise BadSettings(f"site {name!r}: {text!r} is not a subnet") from err
        where = topology.Location(member or name, name, region.lower(), zone.lower())
        return cls(where, tuple(nets))


def _fqdn(name: str) -> str:
    labels = skydns.split_name(name.lower())
    return ".".join(labels) + "." if labels else "."


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the server answers for and how.

    ``zones``: the domains served (answers outside them are REFUSED).
    ``ns_names``: the apex NS targets when the Store has no ``ns.dns.<zone>`` records
    (default ``ns.dns.<zone>``); ``ns_addresses``: their glue and A/AAAA answers.
    ``sites``: client subnets → (region, zone) for nearest answers.
    """

    zones: tuple[str, ...]
    prefix: str = skydns.DEFAULT_PREFIX
    ns_names: tuple[str, ...] = ()
    ns_addresses: tuple[str, ...] = ()
    ns_ttl: int = 300
    hostmaster: str = "hostmaster"
    # CoreDNS's etcd plugin: SOA TTL and minimum are both MinTTL (30 s).
    negative_ttl: int = 30
    sites: tuple[Site, ...] = ()
    # RFC 8482 answers for ANY carry this TTL.
    any_ttl: int = 3600
    # Our advertised EDNS UDP payload size (DNS flag day 2020) and the most we honour.
    edns_payload: int = 1232
    max_udp_payload: int = 4096
    # TCP connections of one server process (fedns.dnsserver.tcp): in all, per client
    # (an IPv4 address, an IPv6 /64), and how long one may wait for its next query:
    # tcp_busy_idle_timeout while half the slots or more are taken.
    tcp_connections: int = 512
    tcp_per_client: int = 32
    tcp_idle_timeout: float = 10.0
    tcp_busy_idle_timeout: float = 1.0
    # CoreDNS etcd plugin min-lease-ttl / max-lease-ttl (1.12.4 and later): a record on
    # an etcd lease answers with the lease's remaining time clamped to these.
    lease_min_ttl: int = 30
    lease_max_ttl: int = 86_400

    def __post_init__(self) -> None:
        if not self.zones:
            raise BadSettings("no zone to serve")
        try:
            zones = tuple(_fqdn(z) for z in self.zones)
            ns_names = tuple(_fqdn(n) for n in self.ns_names)
        except skydns.BadName as err:
            raise BadSettings(str(err)) from err
        for address in self.ns_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError as err:
                raise BadSettings(f"NS address {address!r} is not an IP address") from err
        for field in ("tcp_connections", "tcp_per_client", "tcp_idle_timeout",
                      "tcp_busy_idle_timeout", "lease_min_ttl", "lease_max_ttl"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise BadSettings(f"{field} must be a positive number, not {value!r}")
        if self.lease_min_ttl > self.lease_max_ttl:
            raise BadSettings(f"lease_min_ttl {self.lease_min_ttl} is above "
                              f"lease_max_ttl {self.lease_max_ttl}")
        object.__setattr__(self, "zones", zones)
        object.__setattr__(self, "ns_names", ns_names)
        # Longest prefix first, so the first subnet that contains a client wins.
        subnets = sorted(((net, site) for site in self.sites for net in site.subnets),
                         key=lambda pair: -pair[0].prefixlen)
        object.__setattr__(self, "_subnets", tuple(subnets))

    def nameservers(self, zone: str) -> tuple[str, ...]:
        """The NS names of ``zone`` (fqdn, lowercase)."""
        return self.ns_names or (f"ns.dns.{zone}" if zone != "." else "ns.dns.",)

    def site_of(self, address: IPAddress) -> tuple[Site, IPNetwork] | None:
        """The site whose subnets hold ``address`` (longest match), and that subnet."""
        for net, site in self._subnets:  # type: ignore[attr-defined]
            if address.version == net.version and address in net:
                return site, net
        return None

    def site_of_network(self, network: IPNetwork) -> tuple[Site | None, int]:
        """For an EDNS Client Subnet ``network``: the site that holds all of it (or
        None) and the scope prefix length to echo (RFC 7871 §7.2.1): the site subnet's
        length when one matched, else the source length, raised to the longest site
        subnet inside the source network (the source was too short to decide)."""
        if network.prefixlen == 0:
            return None, 0
        inner = 0  # the longest site subnet strictly inside the source network
        found: tuple[Site, int] | None = None
        for net, site in self._subnets:  # type: ignore[attr-defined]
            if net.version != network.version:
                continue
            if net.prefixlen > network.prefixlen:
                if net.subnet_of(network):  # type: ignore[arg-type]
                    inner = max(inner, net.prefixlen)
            elif found is None and network.subnet_of(net):  # type: ignore[arg-type]
                found = (site, net.prefixlen)
        if found is None:
            return None, max(network.prefixlen, inner)
        return found[0], max(found[1], inner)


def to_json(settings: Settings) -> dict[str, Any]:
    """``settings`` as plain JSON data, for a DNS server in another process."""
    doc: dict[str, Any] = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    doc["sites"] = [{"name": s.name, "member": s.location.member, "region": s.region,
                     "zone": s.zone, "subnets": [str(net) for net in s.subnets]}
                    for s in settings.sites]
    return doc


def from_json(doc: dict[str, Any]) -> Settings:
    """The inverse of :func:`to_json`; raises :class:`BadSettings`."""
    try:
        sites = tuple(Site.make(s["name"], s["region"], s["zone"], s["subnets"],
                                s.get("member", "")) for s in doc.get("sites", ()))
        fields = {f.name for f in dataclasses.fields(Settings)} - {"sites"}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in doc.items() if k in fields}
        return Settings(sites=sites, **values)
    except (KeyError, TypeError) as err:
        raise BadSettings(f"DNS settings {doc!r}: {err}") from err
