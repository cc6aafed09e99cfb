"""What one LoadBalancer Service asks of IPAM, read from the Service's fields.

``Request`` normalises the MetalLB annotations, ``spec.loadBalancerIP``, the ports and
the IP family policy into the families wanted and the addresses asked for, refusing
malformed input with one ``RequestInvalid`` line.  It makes no decision: see
``ipam.allocator``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ipam import address, errors, ledger

POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
PROTOCOLS = ("TCP", "UDP", "SCTP")
POOL_ANNOTATION = "metallb.io/address-pool"
IPS_ANNOTATION = "metallb.io/loadBalancerIPs"
SHARING_ANNOTATION = "metallb.io/allow-shared-ip"
_LEGACY_PREFIX = "metallb.universe.tf/"  # older MetalLB spelling, honoured too


@dataclasses.dataclass(frozen=True)
class Request:
    """A Service's request.  ``families`` (derived) lists the families to allocate, in
    order; ``addresses`` (derived) maps a family to the address asked for in it."""

    member: str
    namespace: str
    service: str
    uid: str = ""
    namespace_labels: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    service_labels: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    pool: str | None = None
    requested_ips: tuple[str, ...] = ()
    sharing_key: str = ""
    ports: tuple[ledger.Port, ...] = ()
    ip_families: tuple[str, ...] = ("IPv4",)
    ip_family_policy: str = "SingleStack"
    families: tuple[int, ...] = dataclasses.field(init=False, compare=False)
    addresses: dict[int, address.Address] = dataclasses.field(
        init=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"service {self.namespace}/{self.service}"
        if self.ip_family_policy not in POLICIES:
            raise errors.RequestInvalid(
                f"{where}: ipFamilyPolicy: {address.quote(self.ip_family_policy)}"
                f" is not one of {', '.join(POLICIES)}")
        declared = []
        for name in self.ip_families or ("IPv4",):
            if name not in address.FAMILY_BY_NAME or address.FAMILY_BY_NAME[name] in declared:
                raise errors.RequestInvalid(
                    f"{where}: ipFamilies: {address.quote(list(self.ip_families))}"
                    " must list IPv4 and/or IPv6 once each")
            declared.append(address.FAMILY_BY_NAME[name])
        if self.ip_family_policy == "SingleStack":
            declared = declared[:1]
        elif len(declared) == 1:
            declared.append(6 if declared[0] == 4 else 4)
        asked: dict[int, address.Address] = {}
        for text in self.requested_ips:
            try:
                family, value = address.parse_address(text)
            except errors.AddressInvalid as err:
                raise errors.RequestInvalid(f"{where}: requested IP: {err}") from err
            wanted = address.to_address(family, value)
            if family in asked and asked[family] != wanted:
                raise errors.RequestInvalid(
                    f"{where}: requests two {address.FAMILY_NAMES[family]} addresses"
                    f" ({asked[family]}, {wanted}); one per family")
            if family not in declared:
                raise errors.RequestInvalid(
                    f"{where}: requested IP {wanted} is {address.FAMILY_NAMES[family]} but"
                    f" the service is {self.ip_family_policy}"
                    f" {'/'.join(address.FAMILY_NAMES[f] for f in declared)}")
            asked[family] = wanted
        if asked and self.ip_family_policy != "RequireDualStack":
            declared = [family for family in declared if family in asked]
        ports = []
        for index, (protocol, number) in enumerate(self.ports):
            protocol = str(protocol).upper()
            if protocol not in PROTOCOLS or not isinstance(number, int) \
                    or not 0 < number < 65536:
                raise errors.RequestInvalid(
                    f"{where}: ports[{index}]: {address.quote([protocol, number])} is not"
                    f" a port ({'/'.join(PROTOCOLS)} and 1-65535)")
            ports.append((protocol, number))
        object.__setattr__(self, "ports", tuple(ports))
        object.__setattr__(self, "requested_ips", tuple(self.requested_ips))
        object.__setattr__(self, "sharing_key", self.sharing_key or "")
        object.__setattr__(self, "families", tuple(declared))
        object.__setattr__(self, "addresses", asked)

    @property
    def owner(self) -> ledger.Owner:
        return (self.member, self.namespace, self.service, self.uid)

    def required(self, family: int) -> bool:
        """False when PreferDualStack may leave this family out (nothing asked in it)."""
        return self.ip_family_policy != "PreferDualStack" or family in self.addresses

    def describe(self) -> str:
        return f"{self.member}/{self.namespace}/{self.service}"


def from_service(member: str, service: Mapping[str, Any],
                 namespace_labels: Mapping[str, str] | None = None) -> Request:
    """The Request of a Service given as its API mapping (``metadata``, ``spec``)."""
    metadata = service.get("metadata") or {}
    spec = service.get("spec") or {}
    annotations = metadata.get("annotations") or {}

    def annotation(name: str) -> str:
        suffix = name.partition("/")[2]
        return str(annotations.get(name) or annotations.get(_LEGACY_PREFIX + suffix) or "")

    requested = []
    for text in [spec.get("loadBalancerIP") or ""] + annotation(IPS_ANNOTATION).split(","):
        text = text.strip()
        if text and text not in requested:
            requested.append(text)
    ports = tuple((p.get("protocol") or "TCP", p.get("port")) for p in spec.get("ports") or ())
    return Request(
        member=member,
        namespace=metadata.get("namespace") or "default",
        service=metadata.get("name") or "",
        uid=metadata.get("uid") or "",
        namespace_labels=dict(namespace_labels or {}),
        service_labels=dict(metadata.get("labels") or {}),
        pool=annotation(POOL_ANNOTATION) or None,
        requested_ips=tuple(requested),
        sharing_key=annotation(SHARING_ANNOTATION),
        ports=ports,
        ip_families=tuple(spec.get("ipFamilies") or ("IPv4",)),
        ip_family_policy=spec.get("ipFamilyPolicy") or "SingleStack",
    )
