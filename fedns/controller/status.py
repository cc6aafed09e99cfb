"""The status controller: the ``Member`` and ``FederatedService`` objects of the API.

Keys are ``("Member", name)`` and ``("FederatedService", namespace, name)``.  A
reconcile computes the one object from the members' caches (health, probe, the
Service copies, their addresses and endpoints) and writes it only where it differs
from what is stored; an object with nothing behind it is deleted.  One object that
cannot be written fails alone (its key is retried with backoff), the rest go on.
Under a burst of Service changes it waits (at most ``max_defer`` s) for the Service
controller to go idle first: DNS comes before these reports.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from fedns import errors, kinds
from fedns.controller import conditions, runtime, state
from fedns.controller import view as view_mod
from fedns.kapi import registry
from fedns.kapi import status as kapi_status
from fedns.records import desired

log = logging.getLogger(__name__)

Key = tuple[str, ...]


def _object(kind: registry.Kind, name: str, spec: dict[str, Any], status: dict[str, Any],
            namespace: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(kinds.MANAGED_BY)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": kinds.API_VERSION, "kind": kind.kind, "metadata": meta,
            "spec": spec, "status": status}


class StatusController(runtime.Controller):
    """Publishes members and federated services as API objects."""

    name = "status"
    watches = runtime.Watches(kinds=frozenset({"Service", "EndpointSlice"}), health=True)

    def __init__(self, storage: Any, view: view_mod.View, federation: str, domain: str,
                 after: runtime.Controller | None = None, max_defer: float = 5.0,
                 refusal: Callable[[str, str, str], str] | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__()
        # why a member's copy has no address (the Service controller knows)
        self.refusal = refusal or (lambda member, namespace, name: "")
        self.storage = storage
        self.view = view
        self.federation, self.domain = federation, domain
        self.after = after
        self.max_defer = max_defer
        self.wall = wall
        # member -> (ready, wall-clock time) of the last health flip this replica saw:
        # the Ready condition's lastTransitionTime, rather than when the write happened
        self.flips: dict[str, tuple[bool, float]] = {}

    # -- events ----------------------------------------------------------------

    def map(self, event: runtime.Event) -> Iterable[Key]:
        if isinstance(event, runtime.HealthEvent):
            self.flips[event.member] = (event.ready, self.wall())
            return [("Member", event.member)] + [
                ("FederatedService", ns, name)
                for ns, name in self.view.eligible_services(event.member)]
        if not isinstance(event, runtime.MemberEvent):
            return ()
        if event.kind == "Service":
            if not (state.eligible(event.obj) or state.eligible(event.old)):
                return ()
            namespace, _, name = event.key.partition("/")
            return [("Member", event.member), ("FederatedService", namespace, name)]
        return [("FederatedService", *s)
                for s in {state.slice_service(event.obj), state.slice_service(event.old)}
                if s is not None]

    async def keys(self) -> set[Key]:
        found: set[Key] = {("Member", name) for name in self.view.members}
        for name in self.view.members:
            found.update(("FederatedService", ns, svc)
                         for ns, svc in self.view.eligible_services(name))
        for kind in (kinds.MEMBERS, kinds.FEDERATED_SERVICES):
            listing = await self.storage.list(kind, "")
            for obj in listing.items:
                meta = obj["metadata"]
                found.add(("Member", meta["name"]) if kind is kinds.MEMBERS
                          else ("FederatedService", meta.get("namespace", ""), meta["name"]))
        return found

    # -- reconcile -------------------------------------------------------------

    async def reconcile(self, key: Any) -> runtime.Result:
        if self.after is not None:
            await self.after.queue.wait_idle(self.max_defer)
        if key[0] == "Member":
            have = await self._get(kinds.MEMBERS, "", key[1])
            return await self._sync(kinds.MEMBERS, "", key[1], self._member(key[1], have),
                                    have)
        _, namespace, name = key
        kind = kinds.FEDERATED_SERVICES
        return await self._sync(kind, namespace, name, self._service(namespace, name),
                                await self._get(kind, namespace, name))

    def _ready(self, name: str, m: Any, have: dict[str, Any] | None) -> dict[str, Any]:
        """The member's Ready condition, its transition time kept from ``have``'s."""
        stored = conditions.find(((have or {}).get("status") or {}).get("conditions"),
                                 conditions.READY)
        if not m.probe.probes:  # not probed yet: the stored condition still stands
            return stored or conditions.transition(
                None, conditions.READY, conditions.UNKNOWN, "NotProbed",
                "no probe of the member has finished yet", conditions.to_rfc3339(self.wall()))
        ready = bool(m.ready)
        flip = self.flips.get(name)
        at = flip[1] if flip is not None and flip[0] == ready else self.wall()
        return conditions.transition(
            stored, conditions.READY, conditions.TRUE if ready else conditions.FALSE,
            "ProbeSucceeded" if ready else "ProbeFailed",
            f"{m.probe.path} answered" if ready else m.probe.last_error or "probe failed",
            conditions.to_rfc3339(at))

    def _member(self, name: str, have: dict[str, Any] | None) -> dict[str, Any] | None:
        m = self.view.members.get(name)
        if m is None:
            return None
        try:
            topo = self.view.topology(name)
        except errors.FednsError:
            topo = None  # the Service controller reports it
        spec = {"site": m.spec.site_name, "region": topo.region if topo else "",
                "zone": topo.zone if topo else "", "ipam": m.spec.ipam}
        status = {"ready": m.ready, "synced": m.synced(), "lastError": m.probe.last_error,
                  "probeLatencySeconds": round(m.probe.latency, 4),
                  "services": len(self.view.eligible_services(name)),
                  "conditions": [self._ready(name, m, have)]}
        return _object(kinds.MEMBERS, name, spec, status)

    def _service(self, namespace: str, name: str) -> dict[str, Any] | None:
        per_member: dict[str, dict[str, Any]] = {}
        for member, m in self.view.members.items():
            svc = m.services.get(f"{namespace}/{name}")
            if svc is None or not state.eligible(svc):
                continue
            ips = state.ingress_ips(svc)
            per_member[member] = {"addresses": ips,
                                  "healthy": bool(ips) and self.view.healthy(m, namespace, name)}
            if not ips and (why := self.refusal(member, namespace, name)):
                per_member[member]["refused"] = why
        if not per_member:
            return None
        ref = desired.ServiceRef(self.federation, namespace, name)
        status = {"members": len(per_member),
                  "healthy": sum(1 for v in per_member.values() if v["healthy"]),
                  "addresses": ",".join(sorted(ip for v in per_member.values()
                                               for ip in v["addresses"])),
                  "dnsName": desired.global_name(ref, self.domain).rstrip("."),
                  "byMember": per_member}
        return _object(kinds.FEDERATED_SERVICES, name, {}, status, namespace)

    async def _get(self, kind: registry.Kind, namespace: str, name: str
                   ) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.storage.get(kind, namespace, name)
        except kapi_status.ApiError as err:
            if err.code != 404:
                raise
            return None
        return found

    async def _sync(self, kind: registry.Kind, namespace: str, name: str,
                    wanted: dict[str, Any] | None, have: dict[str, Any] | None
                    ) -> runtime.Result:
        """Make the stored object (``have``) equal ``wanted`` (None: absent); writes what
        differs."""
        if wanted is None:
            if have is None:
                return runtime.Result()
            try:
                await self.storage.delete(kind, namespace, name)
            except kapi_status.ApiError as err:
                if err.code != 404:
                    raise
            return runtime.Result(changed=1)
        changed = 0
        if have is None:
            have = await self.storage.create(kind, namespace, wanted)
            changed += 1
        elif have.get("spec") != wanted["spec"]:
            fresh = copy.deepcopy(have)
            fresh["spec"] = wanted["spec"]
            have = await self.storage.update(kind, namespace, name, fresh)
            changed += 1
        if have.get("status") != wanted["status"]:
            fresh = copy.deepcopy(have)
            fresh["status"] = wanted["status"]
            await self.storage.update(kind, namespace, name, fresh, subresource="status")
            changed += 1
        return runtime.Result(changed=changed)
