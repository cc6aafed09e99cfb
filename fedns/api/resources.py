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
from collections.abc import Mapping
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
                 members: Mapping[str, Any], reconciler: Any, interval: float = 1.0) -> None:
        self.storage = storage
        self.registry = reg
        self.ipam = ipam
        self.members = members
        self.reconciler = reconciler
        self.interval = interval
        self._published_pools: set[str] = set()
        self._conditions: dict[str, dict[str, Any]] = {}

    async def _upsert(self, kind: kapi_registry.Kind, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        try:
            current = await self.storage.get(kind, namespace, meta["name"])
        except kapi_status.ApiError as err:
            if err.code != 404:
                raise
            created = await self.storage.create(kind, namespace, obj)
            if created.get("status") != obj["status"]:
                created["status"] = obj["status"]
                await self.storage.update(kind, namespace, meta["name"], created,
                                          subresource="status")
            return
        if current.get("spec") != obj["spec"]:
            fresh = copy.deepcopy(current)
            fresh["spec"] = obj["spec"]
            current = await self.storage.update(kind, namespace, meta["name"], fresh)
        if current.get("status") != obj["status"]:
            current["status"] = obj["status"]
            await self.storage.update(kind, namespace, meta["name"], current,
                                      subresource="status")

    async def _prune(self, kind: kapi_registry.Kind, keep: set[tuple[str, str]]) -> None:
        listing = await self.storage.list(kind, "")
        for obj in listing.items:
            meta = obj["metadata"]
            if (meta.get("namespace", ""), meta["name"]) not in keep:
                await self.storage.delete(kind, meta.get("namespace", ""), meta["name"])

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
            await self._upsert(IPPOOLS, _object(IPPOOLS, p.name, spec, status))
            keep.add(("", p.name))
        self._published_pools = {name for _, name in keep}
        await self._prune(IPPOOLS, keep | {("", n) for n, c in self._conditions.items()
                                           if c["status"] == "False"})

    # -- members and services ----------------------------------------------------

    async def _publish_members(self) -> None:
        keep = set()
        for name, m in self.members.items():
            topo = self.reconciler.topology(name)
            spec = {"site": m.spec.site_name, "region": topo.region if topo else "",
                    "zone": topo.zone if topo else "", "ipam": m.spec.ipam}
            services = sum(1 for svc in list(m.services.values()) if state.eligible(svc))
            status = {"ready": m.ready, "synced": m.synced(), "lastError": m.probe.last_error,
                      "probeLatencySeconds": round(m.probe.latency, 4), "services": services}
            await self._upsert(MEMBERS, _object(MEMBERS, name, spec, status))
            keep.add(("", name))
        await self._prune(MEMBERS, keep)

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
        keep = set()
        for (namespace, service), per_member in sorted(found.items()):
            ref = desired.ServiceRef(rec.federation, namespace, service)
            healthy = [n for n, v in per_member.items() if v["healthy"]]
            addresses = sorted(ip for v in per_member.values() for ip in v["addresses"])
            status = {"members": len(per_member), "healthy": len(healthy),
                      "addresses": ",".join(addresses),
                      "dnsName": desired.global_name(ref, rec.domain).rstrip("."),
                      "byMember": per_member}
            await self._upsert(FEDERATED_SERVICES,
                               _object(FEDERATED_SERVICES, service, {}, status, namespace))
            keep.add((namespace, service))
        await self._prune(FEDERATED_SERVICES, keep)

    async def publish(self) -> None:
        await self._ingest_pool_edits()
        await self._publish_pools()
        await self._publish_members()
        await self._publish_services()

    async def run(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception as err:  # noqa: BLE001 - publishing is retried next tick
                log.warning("publishing fedns.io objects failed: %s", err)
            await asyncio.sleep(self.interval)
