"""The ``fedns.io/v1alpha1`` kinds the appliance API serves, and the leader's publisher.

- ``ippools`` (``ipp``): one per IPAM pool; ``spec`` is the pool as in a pool file,
  ``status`` its exact counts per family.  ``kubectl apply`` of an IPPool (with the
  API token) creates or changes the pool through IPAM, with the same validation and
  refusals as ``fedns pool apply``; the outcome lands in ``status.conditions``.
- ``members`` (``mem``): one per member; ``spec`` its site/region/zone/ipam mode,
  ``status`` health, last probe error and latency, and its LoadBalancer Services.
- ``federatedservices`` (``fsvc``, namespaced): one per published service, with
  each member's addresses and health and the DNS names.

The publisher (run by the leader) keeps these objects equal to the live state every
``interval`` seconds.  Cluster-scoped objects live in kapi's storage over the same
Store, so every replica serves what the leader published.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from fedns import errors
from fedns.controller import state
from fedns.kapi import registry as kapi_registry
from fedns.kapi import status as kapi_status
from fedns.kapi import tables
from fedns.records import desired
from ipam import pool as ipam_pool

log = logging.getLogger(__name__)

GROUP, VERSION = "fedns.io", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

IPPOOLS = kapi_registry.Kind(
    GROUP, VERSION, "ippools", "IPPool", namespaced=False, short_names=("ipp",),
    categories=("fedns",), status=True,
    printer=tables.columns(("Site", ".spec.site"), ("Addresses", ".spec.addresses"),
                           ("Capacity", ".status.capacity"), ("Used", ".status.used"),
                           ("Free", ".status.free"), ("State", ".status.state")),
    description="A pool of external addresses of one site.")
MEMBERS = kapi_registry.Kind(
    GROUP, VERSION, "members", "Member", namespaced=False, short_names=("mem",),
    categories=("fedns",), status=True,
    printer=tables.columns(("Site", ".spec.site"), ("Region", ".spec.region"),
                           ("Zone", ".spec.zone"), ("Ready", ".status.ready"),
                           ("Services", ".status.services"), ("Error", ".status.lastError")),
    description="A member cluster of the federation.")
FEDERATED_SERVICES = kapi_registry.Kind(
    GROUP, VERSION, "federatedservices", "FederatedService", namespaced=True,
    short_names=("fsvc",), categories=("fedns",), status=True,
    printer=tables.columns(("Members", ".status.members"), ("Healthy", ".status.healthy"),
                           ("Addresses", ".status.addresses"), ("DNS-Name", ".status.dnsName")),
    description="A Service published under federation DNS names.")


def registry() -> kapi_registry.Registry:
    return kapi_registry.Registry([IPPOOLS, MEMBERS, FEDERATED_SERVICES])


def _object(kind: kapi_registry.Kind, name: str, spec: dict[str, Any], status: dict[str, Any],
            namespace: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "fedns"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind.kind, "metadata": meta, "spec": spec,
            "status": status}


class Publisher:
    """Keeps the fedns.io objects equal to the appliance's live state."""

    def __init__(self, storage: Any, reg: kapi_registry.Registry, ipam: Any,
                 members: Mapping[str, Any], reconciler: Any, interval: float = 2.0,
                 wait_idle: Callable[[float], Awaitable[object]] | None = None,
                 max_defer: float = 10.0) -> None:
        self.storage = storage
        # a publish lists and rewrites every object: during a burst of reconciles it
        # waits (at most max_defer seconds) for the work queue to go idle
        self.wait_idle = wait_idle
        self.max_defer = max_defer
        self.registry = reg
        self.ipam = ipam
        self.members = members
        self.reconciler = reconciler
        self.interval = interval
        self._published_pools: set[str] = set()
        self._conditions: dict[str, dict[str, Any]] = {}

    async def _sync(self, kind: kapi_registry.Kind, wanted: list[dict[str, Any]],
                    keep: AbstractSet[tuple[str, str]] = frozenset()) -> None:
        """Make the stored objects of ``kind`` equal ``wanted`` (plus ``keep``): one list,
        then a write only for what differs."""
        listing = await self.storage.list(kind, "")
        current = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                   for o in listing.items}
        for obj in wanted:
            meta = obj["metadata"]
            where = (meta.get("namespace", ""), meta["name"])
            have = current.pop(where, None)
            if have is None:
                have = await self.storage.create(kind, where[0], obj)
            elif have.get("spec") != obj["spec"]:
                fresh = copy.deepcopy(have)
                fresh["spec"] = obj["spec"]
                have = await self.storage.update(kind, where[0], where[1], fresh)
            if have.get("status") != obj["status"]:
                have = copy.deepcopy(have)
                have["status"] = obj["status"]
                await self.storage.update(kind, where[0], where[1], have, subresource="status")
        for where in current.keys() - keep:
            try:
                await self.storage.delete(kind, where[0], where[1])
            except kapi_status.ApiError as err:
                if err.code != 404:
                    raise

    # -- pools -----------------------------------------------------------------

    async def _ingest_pool_edits(self) -> None:
        """Pool objects users applied or deleted through the API become IPAM changes."""
        listing = await self.storage.list(IPPOOLS, "")
        live = {p.name: p for p in self.ipam.pools()}
        seen = set()
        for obj in listing.items:
            name = obj["metadata"]["name"]
            seen.add(name)
            spec = dict(obj.get("spec") or {})
            spec["name"] = name
            try:
                wanted = ipam_pool.from_dict(spec)
                if live.get(name) != wanted:
                    await self.ipam.apply_pools([wanted])
                self._conditions[name] = {"type": "Accepted", "status": "True",
                                          "reason": "Applied", "message": ""}
            except errors.FednsError as err:
                self._conditions[name] = {"type": "Accepted", "status": "False",
                                          "reason": type(err).__name__, "message": str(err)}
        for name in self._published_pools - seen:
            if name in live:
                try:
                    await self.ipam.delete_pool(name)
                except errors.FednsError as err:
                    log.warning("ippool %s deleted through the API but kept: %s", name, err)

    async def _publish_pools(self) -> None:
        wanted = []
        usage: dict[str, list[Any]] = {}
        for u in self.ipam.usage():
            usage.setdefault(u.pool, []).append(u)
        keep = set()
        for p in self.ipam.pools():
            spec = ipam_pool.to_dict(p)
            spec.pop("name", None)
            counts = usage.get(p.name, [])
            capacity = sum(u.capacity for u in counts)
            used = sum(u.used for u in counts)
            # exact integers as strings: an IPv6 /64 does not fit a JSON number safely
            status: dict[str, Any] = {
                "capacity": str(capacity), "used": str(used), "free": str(capacity - used),
                "state": "Draining" if p.draining else "Active",
                "families": {u.family_name: {"capacity": str(u.capacity), "used": str(u.used),
                                             "free": str(u.free)} for u in counts},
            }
            if p.name in self._conditions:
                status["conditions"] = [self._conditions[p.name]]
            wanted.append(_object(IPPOOLS, p.name, spec, status))
            keep.add(("", p.name))
        self._published_pools = {name for _, name in keep}
        # objects users applied that IPAM refused stay, showing why
        await self._sync(IPPOOLS, wanted, {("", n) for n, c in self._conditions.items()
                                           if c["status"] == "False"})

    # -- members and services ----------------------------------------------------

    async def _publish_members(self) -> None:
        wanted = []
        for name, m in self.members.items():
            try:
                topo = self.reconciler.topology(name)
            except errors.FednsError:
                topo = None  # the reconciler reports it
            spec = {"site": m.spec.site_name, "region": topo.region if topo else "",
                    "zone": topo.zone if topo else "", "ipam": m.spec.ipam}
            services = sum(1 for svc in list(m.services.values()) if state.eligible(svc))
            status = {"ready": m.ready, "synced": m.synced(), "lastError": m.probe.last_error,
                      "probeLatencySeconds": round(m.probe.latency, 4), "services": services}
            wanted.append(_object(MEMBERS, name, spec, status))
        await self._sync(MEMBERS, wanted)

    async def _publish_services(self) -> None:
        rec = self.reconciler
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for name, m in self.members.items():
            for key, svc in list(m.services.items()):
                if not state.eligible(svc):
                    continue
                namespace, _, service = key.partition("/")
                entry = found.setdefault((namespace, service), {})
                entry[name] = {"addresses": state.ingress_ips(svc),
                               "healthy": bool(state.ingress_ips(svc))
                               and rec.healthy(m, namespace, service)}
        wanted = []
        for (namespace, service), per_member in sorted(found.items()):
            ref = desired.ServiceRef(rec.federation, namespace, service)
            healthy = [n for n, v in per_member.items() if v["healthy"]]
            addresses = sorted(ip for v in per_member.values() for ip in v["addresses"])
            status = {"members": len(per_member), "healthy": len(healthy),
                      "addresses": ",".join(addresses),
                      "dnsName": desired.global_name(ref, rec.domain).rstrip("."),
                      "byMember": per_member}
            wanted.append(_object(FEDERATED_SERVICES, service, {}, status, namespace))
        await self._sync(FEDERATED_SERVICES, wanted)

    async def publish(self) -> None:
        await self._ingest_pool_edits()
        await self._publish_pools()
        await self._publish_members()
        await self._publish_services()

    async def run(self) -> None:
        while True:
            try:
                if self.wait_idle is not None:
                    await self.wait_idle(self.max_defer)
                await self.publish()
            except Exception as err:  # noqa: BLE001 - publishing is retried next tick
                log.warning("publishing fedns.io objects failed: %s", err)
            await asyncio.sleep(self.interval)
