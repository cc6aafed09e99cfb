"""What the reconciler reads of a member's Service: eligibility, ports, endpoints, IPs.

Pure functions over the plain dicts the informers cache, plus :class:`SliceIndex`,
which maps (namespace, service) to its EndpointSlices so a reconcile never scans
every slice of a member.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from typing import Any

from fedns.records import desired

LB_CLASS = "fedns.io/lb"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Obj = Mapping[str, Any]


def eligible(service: Obj | None) -> bool:
    """A ``type: LoadBalancer`` Service fedns serves: no class, or ``fedns.io/lb``."""
    if not service:
        return False
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return False
    return spec.get("loadBalancerClass") in (None, "", LB_CLASS)


def uid(service: Obj) -> str:
    return str((service.get("metadata") or {}).get("uid", ""))


def named_ports(service: Obj) -> tuple[desired.NamedPort, ...]:
    """Named ports become SRV records (``_name._proto``)."""
    ports = []
    for port in (service.get("spec") or {}).get("ports") or []:
        name = port.get("name")
        if name and port.get("port"):
            ports.append(desired.NamedPort(str(name).lower(),
                                           str(port.get("protocol", "TCP")).lower(),
                                           int(port["port"])))
    return tuple(ports)


def ingress_ips(service: Obj) -> list[str]:
    """The IPs in ``status.loadBalancer.ingress`` (hostnames are not addresses)."""
    status = (service.get("status") or {}).get("loadBalancer") or {}
    return [str(entry["ip"]) for entry in status.get("ingress") or [] if entry.get("ip")]


# metadata the API server changes on every write, whatever was written
_WRITE_STAMPS = frozenset({"resourceVersion", "managedFields"})


def status_only(old: Obj | None, new: Obj | None) -> bool:
    """True when ``new`` differs from ``old`` in nothing but its status (and the
    metadata every write bumps): what a status write's own watch event looks like."""
    if old is None or new is None:
        return False
    if any(old.get(k) != new.get(k) for k in old.keys() | new.keys()
           if k not in ("status", "metadata")):
        return False
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    return all(before.get(k) == after.get(k) for k in before.keys() | after.keys()
               if k not in _WRITE_STAMPS)


def slice_ready(endpoint_slice: Obj) -> bool:
    """True when any endpoint is ready (an absent ``ready`` means ready, per the API)."""
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is not False and endpoint.get("addresses"):
            return True
    return False


def slice_service(endpoint_slice: Obj | None) -> tuple[str, str] | None:
    """(namespace, service) an EndpointSlice belongs to, from its label."""
    if not endpoint_slice:
        return None
    meta = endpoint_slice.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return (str(meta.get("namespace", "default")), str(name)) if name else None


class SliceIndex:
    """(member, namespace, service) → the keys of its EndpointSlices."""

    def __init__(self) -> None:
        self._slices: dict[tuple[str, str, str], set[str]] = collections.defaultdict(set)

    def update(self, member: str, key: str, obj: Obj | None, old: Obj | None) -> set[tuple[str, str]]:
        """Track one slice change; returns the services it touched."""
        touched = set()
        before, after = slice_service(old), slice_service(obj)
        if before is not None and before != after:
            owner = (member, *before)
            self._slices[owner].discard(key)
            if not self._slices[owner]:
                del self._slices[owner]
            touched.add(before)
        if after is not None:
            self._slices[(member, *after)].add(key)
            touched.add(after)
        return touched

    def slices(self, member: str, namespace: str, service: str) -> Iterable[str]:
        return tuple(self._slices.get((member, namespace, service), ()))
