"""Level-triggered reconcile of one federated service, keyed by (namespace, name).

``reconcile(key)`` reads every member's copy of the Service from the informer
caches, makes each managed member's addresses true (IPAM through the Store, then
the member's ``status.loadBalancer.ingress``), takes observed members' addresses as
their own load balancer wrote them, computes health, and applies the desired
records in one Store transaction.  It never looks at what event caused it, so
running it twice changes nothing.  Members whose caches are not synced are never
used to release anything: an empty cache is not proof that a Service is gone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from fedns import errors
from fedns.controller import state
from fedns.members import member as member_mod
from fedns.members import topology as topology_mod
from fedns.records import apply as records_apply
from fedns.records import desired
from ipam import allocator, request

log = logging.getLogger(__name__)

Key = tuple[str, str]


class IPAMService(Protocol):
    """What the reconciler needs of the Store-backed IPAM."""

    async def ensure(self, req: request.Request) -> allocator.Decision | allocator.Refusal: ...

    async def release(self, member: str, namespace: str, service: str,
                      keep_uid: str | None = None) -> list[Any]: ...


@dataclasses.dataclass(frozen=True)
class Result:
    """What one reconcile did; ``requeue_after`` > 0 asks to look again later."""

    published: int = 0  # healthy targets in the records
    changed: int = 0  # record keys created, updated or deleted
    requeue_after: float = 0.0


class Reconciler:
    """Reconciles federated services across ``members``."""

    def __init__(self, store: Any, federation: str, domain: str, ttl: int,
                 members: Mapping[str, member_mod.Member], ipam: IPAMService,
                 slices: state.SliceIndex) -> None:
        self.store = store
        self.federation, self.domain, self.ttl = federation, domain, ttl
        self.members = members
        self.ipam = ipam
        self.slices = slices
        self._reported: dict[tuple[str, str], tuple[str, ...]] = {}  # (member, uid) -> last event
        self._topology: dict[str, topology_mod.Topology] = {}

    # -- reading -------------------------------------------------------------

    def topology(self, name: str) -> topology_mod.Topology | None:
        """A member's region/zone; None while its Nodes are not known yet."""
        known = self._topology.get(name)
        if known is not None:
            return known
        m = self.members[name]
        try:
            known = m.topology()
        except topology_mod.TopologyUnknown:
            if m.synced():
                raise
            return None
        self._topology[name] = known
        return known

    def locations(self) -> list[desired.Location]:
        found = []
        for name in self.members:
            topo = self.topology(name)
            if topo is not None:
                found.append(desired.Location(name, topo.region, topo.zone))
        return found

    def healthy(self, m: member_mod.Member, namespace: str, name: str) -> bool:
        if not m.ready:
            return False
        cache = m.endpointslices
        return any(state.slice_ready(cache[key]) for key in self.slices.slices(m.name, namespace, name)
                   if key in cache)

    # -- writing -------------------------------------------------------------

    async def _event(self, m: member_mod.Member, svc: dict[str, Any], reason: str,
                     message: str, type_: str) -> None:
        marker = (m.name, state.uid(svc))
        if self._reported.get(marker) == (reason, message):
            return  # said already; a reconcile repeats, an event should not
        try:
            await m.record_event(svc, reason, message, type_)
            self._reported[marker] = (reason, message)
        except member_mod.MemberWriteError as err:
            log.info("%s", err)

    async def _managed_addresses(self, m: member_mod.Member, svc: dict[str, Any]) -> list[str]:
        meta = svc["metadata"]
        req = request.from_service(m.name, svc, {})
        result = await self.ipam.ensure(req)
        if isinstance(result, allocator.Refusal):
            await self._event(m, svc, "AllocationFailed",
                              f"{result.reason}: {result.message}", "Warning")
            return []
        ips = result.addresses()
        if state.ingress_ips(svc) != ips:
            await m.set_ingress(meta["namespace"], meta["name"], ips)
            await self._event(m, svc, "IPAllocated",
                              "Assigned IP " + ", ".join(ips) + " from fedns", "Normal")
        return ips

    async def reconcile(self, key: Key) -> Result:
        namespace, name = key
        started = time.monotonic()
        ref = desired.ServiceRef(self.federation, namespace, name)
        states: list[desired.MemberState] = []
        for m in self.members.values():
            svc = m.services.get(f"{namespace}/{name}")
            serve = state.eligible(svc)
            if m.spec.ipam == "managed" and m.informers["Service"].synced.is_set():
                # a deleted, retyped or re-created Service gives its old addresses back
                await self.ipam.release(m.name, namespace, name,
                                        keep_uid=state.uid(svc) if serve and svc else None)
            if not serve or svc is None:
                continue
            if m.spec.ipam == "managed":
                ips = await self._managed_addresses(m, svc)
            else:
                ips = state.ingress_ips(svc)
            states.append(desired.MemberState(
                member=m.name, addresses=tuple(ips),
                healthy=bool(ips) and self.healthy(m, namespace, name),
                ports=state.named_ports(svc)))
        want = desired.records(ref, self.domain, self.locations(), states, self.ttl)
        changes = await records_apply.apply(self.store, ref, want)
        if changes.conflicts:
            log.warning("%s/%s: %d record keys exist that fedns did not write; left alone",
                        namespace, name, len(changes.conflicts))
        log.debug("reconciled %s/%s in %.1f ms", namespace, name,
                  (time.monotonic() - started) * 1000)
        return Result(
            published=sum(len(s.addresses) for s in states if s.healthy),
            changed=len(changes.create) + len(changes.update) + len(changes.delete))


def retry_delay(err: BaseException) -> float | None:
    """None for a permanent failure (do not retry), else the wait to ask for."""
    if isinstance(err, errors.PermanentError):
        return None
    if isinstance(err, errors.TemporaryError):
        return err.delay
    return 0.0  # unknown: let the queue's backoff decide
