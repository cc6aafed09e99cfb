"""The Service controller: a federated service's IPs and DNS records, keyed by
(namespace, name).

``reconcile(key)`` reads every member's copy of the Service from the informer
caches, makes each managed member's addresses true (IPAM through the Store, then
the member's ``status.loadBalancer.ingress``), takes observed members' addresses as
their own load balancer wrote them, computes health, and applies the desired
records in one Store transaction.  It never looks at what event caused it, so
running it twice changes nothing.  Members whose caches are not synced are never
used to release anything: an empty cache is not proof that a Service is gone.

It watches Services, EndpointSlices, Namespaces (pool namespace selectors), member
health and the pool records: a Service refused an address is looked at again as soon
as a pool of its site is added or changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from fedns import errors
from fedns.controller import runtime, state
from fedns.controller import view as view_mod
from fedns.ipamstore import keys as ipam_keys
from fedns.members import member as member_mod
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

    async def repair(self, existing: Callable[[tuple[str, str, str, str]], bool | None],
                     statuses: Any = (), grace: float = 300.0) -> Any: ...

    def allocations(self) -> Any: ...

    def site_of(self, member: str) -> str: ...

    async def caught_up(self, revision: int, timeout: float) -> bool: ...


Result = runtime.Result


@dataclasses.dataclass(slots=True)
class _Copy:
    """What the reconciler remembers of one live copy, (member, namespace, name): it
    is forgotten when the copy goes, so only live Services are remembered."""

    # (uid, reason, message) of the last event sent: a reconcile repeats, an event not
    reported: tuple[str, str, str] | None = None
    # a managed member's addresses as last reconciled: the status write's own
    # event needs no reconcile
    showing: tuple[str, ...] | None = None
    # (Service object, namespace labels, its IPAM request): informers replace an object
    # on every change, so the same object with the same labels is the same request
    asked: tuple[dict[str, Any], dict[str, str], request.Request] | None = None


class ServiceController(runtime.Controller):
    """Reconciles federated services across the members of ``view``."""

    name = "services"
    watches = runtime.Watches(kinds=frozenset({"Service", "EndpointSlice", "Namespace"}),
                              health=True, prefixes=(ipam_keys.POOLS,))

    def __init__(self, store: Any, federation: str, domain: str, ttl: int,
                 view: view_mod.View, ipam: IPAMService, workers: int = 4) -> None:
        super().__init__()
        self.store = store
        self.federation, self.domain, self.ttl = federation, domain, ttl
        self.view = view
        self.members = view.members
        self.ipam = ipam
        self.workers = workers
        self._copies: dict[tuple[str, str, str], _Copy] = {}
        # each service's records as last read or written (see records.apply.Known)
        self.records = records_apply.Known()
        # site -> Services refused an address there: a pool change looks at them again
        self._refused: dict[str, set[Key]] = {}
        self._pools_revision = 0  # the newest pool change seen; IPAM catches up first
        self._background: set[asyncio.Task] = set()
        self._writing: dict[tuple[str, Key], asyncio.Task] = {}
        self._write_slots: dict[str, asyncio.Semaphore] = {}
        self.max_writes = 16
        # status writes wait (at most this long) for the queue to go idle: under a burst
        # every service is published first, then the members are told
        self.max_defer = 5.0
        self.repair_grace = 300.0

    def requeue(self, key: Key, delay: float) -> None:
        self.queue.add_after(key, delay)

    async def wait_idle(self, timeout: float) -> object:
        return await self.queue.wait_idle(timeout)

    # -- events ----------------------------------------------------------------

    def map(self, event: runtime.Event) -> Iterable[Key]:
        if isinstance(event, runtime.StoreEvent):
            return self._pool_changed(event)
        if isinstance(event, runtime.HealthEvent):
            return self.view.eligible_services(event.member)
        if event.kind == "Service":
            if (state.eligible(event.obj) or state.eligible(event.old)) and \
                    not self.is_echo(event.member, event.key, event.obj, event.old):
                namespace, _, name = event.key.partition("/")
                return ((namespace, name),)
            return ()
        if event.kind == "EndpointSlice":
            return {s for s in (state.slice_service(event.obj), state.slice_service(event.old))
                    if s is not None}
        if event.kind == "Namespace" and _labels(event.obj) != _labels(event.old):
            # pool namespace selectors may now match differently
            return [k for k in self.view.eligible_services(event.member) if k[0] == event.key]
        return ()

    def _pool_changed(self, event: runtime.StoreEvent) -> Iterable[Key]:
        """A pool record changed: the Services refused in its site are looked at again
        (once IPAM has seen the change)."""
        if event.value is None:
            return ()
        try:
            site = ipam_keys.pool_from_json(event.value).site
        except (ValueError, errors.FednsError):
            return ()  # IPAM logs an unreadable pool
        self._pools_revision = max(self._pools_revision, event.revision)
        return list(self._refused.get(site, ()))

    async def keys(self) -> set[Key]:
        found: set[Key] = set()
        for name in self.members:
            found.update(self.view.eligible_services(name))
        prefix = f"{records_apply.OWNERS_PREFIX}{self.federation}/".encode()
        listing = await self.store.range(prefix)
        for kv in listing.kvs:
            namespace, _, name = kv.key[len(prefix):].decode().partition("/")
            if name:
                found.add((namespace, name))
        found.update((a.namespace, a.service) for a in self.ipam.allocations())
        return found

    def relist(self) -> None:
        self.records.clear()

    async def setup(self) -> None:
        """Before any reconcile of a term, and at every resync: adopt addresses
        Services already show, so a Store that lost them never renumbers a Service."""
        await self.repair(self.repair_grace)

    # -- reading -------------------------------------------------------------

    def refusal(self, member: str, namespace: str, name: str) -> str:
        """Why the copy has no address ("reason: message" of its last AllocationFailed),
        or "" when it was not refused."""
        known = self._copies.get((member, namespace, name))
        if known is None or known.reported is None or known.showing:
            return ""
        _, reason, message = known.reported
        return message if reason == "AllocationFailed" else ""

    def healthy(self, m: member_mod.Member, namespace: str, name: str) -> bool:
        return self.view.healthy(m, namespace, name)

    def is_echo(self, member: str, key: str, new: Any, old: Any) -> bool:
        """True when a Service change is nothing but a managed member's status coming
        to show the addresses its last reconcile gave it (the status write's own
        event): reconciling again would change nothing."""
        m = self.members.get(member)
        if m is None or m.spec.ipam != "managed" or not state.status_only(old, new):
            return False
        namespace, _, name = key.partition("/")
        known = self._copies.get((member, namespace, name))
        return known is not None and known.showing is not None and \
            tuple(state.ingress_ips(new)) == known.showing

    # -- writing -------------------------------------------------------------

    def _write_later(self, member: str, key: Key, write: Callable[[], Awaitable[None]]) -> None:
        """Run a status write in the background, one at a time per (member, service) and
        ``max_writes`` at a time per member, so DNS never waits for member writes: it
        starts once the queue is idle or after ``max_defer`` seconds.  A finished write
        changes the Service, whose event reconciles it again; a failed one asks for the
        key to be requeued."""
        marker = (member, key)
        if marker in self._writing:
            return  # the write in flight triggers a fresh reconcile when it lands
        limit = self._write_slots.setdefault(member, asyncio.Semaphore(self.max_writes))

        async def run() -> None:
            try:
                await self.wait_idle(self.max_defer)
                async with limit:
                    await write()
            except member_mod.ObjectGone as err:
                log.debug("%s (deleted meanwhile)", err)
            except errors.FednsError as err:
                log.info("%s", err)
                self.requeue(key, getattr(err, "delay", 1.0))
            finally:
                del self._writing[marker]

        task = asyncio.create_task(run(), name=f"write-{member}-{key[0]}/{key[1]}")
        self._writing[marker] = task

    def _event(self, m: member_mod.Member, svc: dict[str, Any], reason: str,
               message: str, type_: str) -> None:
        """Record an Event in the background: events are best effort and never hold up
        a reconcile (each is a write to the member)."""
        meta = svc.get("metadata") or {}
        marker = (m.name, namespace_of(svc), str(meta.get("name", "")))
        said = (state.uid(svc), reason, message)
        known = self._copies.setdefault(marker, _Copy())
        if known.reported == said:
            return  # said already; a reconcile repeats, an event should not
        known.reported = said

        async def send() -> None:
            try:
                await m.record_event(svc, reason, message, type_)
            except member_mod.MemberWriteError as err:
                log.info("%s", err)

        task = asyncio.create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _copy(self, m: member_mod.Member, namespace: str, name: str
                    ) -> tuple[desired.MemberState | None, Callable[[], Awaitable[None]] | None]:
        """One member's copy: its state for the records, and the status write it still
        needs (done after the records are published, so DNS does not wait for it)."""
        svc = m.services.get(f"{namespace}/{name}")
        serve = state.eligible(svc)
        if m.spec.ipam == "managed" and m.informers["Service"].synced.is_set():
            # a deleted, retyped or re-created Service gives its old addresses back
            await self.ipam.release(m.name, namespace, name,
                                    keep_uid=state.uid(svc) if serve and svc else None)
        if not serve or svc is None:
            self._copies.pop((m.name, namespace, name), None)
            self._forget_refusal(self.ipam.site_of(m.name), (namespace, name))
            return None, None
        write = None
        if m.spec.ipam == "managed":
            ips = await self._allocate(m, svc, namespace, name)
            self._copies.setdefault((m.name, namespace, name), _Copy()).showing = tuple(ips)
            if ips and state.ingress_ips(svc) != ips:
                async def write(svc: dict[str, Any] = svc, ips: list[str] = ips) -> None:
                    now = m.services.get(f"{namespace}/{name}")
                    if now is None or state.uid(now) != state.uid(svc) or \
                            state.ingress_ips(now) == ips:
                        return  # gone, re-created or already shown while it waited
                    await m.set_ingress(namespace, name, ips)
                    self._event(m, svc, "IPAllocated",
                                "Assigned IP " + ", ".join(ips) + " from fedns", "Normal")
        else:
            ips = state.ingress_ips(svc)
        healthy = bool(ips) and self.healthy(m, namespace, name)
        return desired.MemberState(member=m.name, addresses=tuple(ips), healthy=healthy,
                                   ports=state.named_ports(svc)), write

    def _request(self, m: member_mod.Member, svc: dict[str, Any], namespace: str,
                 name: str) -> request.Request:
        known = self._copies.setdefault((m.name, namespace, name), _Copy())
        labels = m.namespace_labels(namespace)
        if known.asked is not None and known.asked[0] is svc and known.asked[1] == labels:
            return known.asked[2]
        req = request.from_service(m.name, svc, labels)
        known.asked = (svc, labels, req)
        return req

    async def _allocate(self, m: member_mod.Member, svc: dict[str, Any], namespace: str,
                        name: str) -> list[str]:
        try:
            req = self._request(m, svc, namespace, name)
        except errors.FednsError as err:  # a bad loadBalancerIP or annotation
            self._event(m, svc, "AllocationFailed", f"invalid request: {err}", "Warning")
            return []
        if self._pools_revision:
            await self.ipam.caught_up(self._pools_revision, 1.0)
        result = await self.ipam.ensure(req)
        site = self.ipam.site_of(m.name)
        key = (namespace, name)
        if isinstance(result, allocator.Refusal):
            self._refused.setdefault(site, set()).add(key)
            self._event(m, svc, "AllocationFailed", f"{result.reason}: {result.message}",
                        "Warning")
            return []
        self._forget_refusal(site, key)
        return result.addresses()

    def _forget_refusal(self, site: str, key: Key) -> None:
        refused = self._refused.get(site)
        if refused is not None and key in refused:
            refused.discard(key)
            if not refused:
                del self._refused[site]

    def _alive(self, owner: tuple[str, str, str, str]) -> bool | None:
        """Does the allocation owner's Service still exist?  None: cannot tell yet."""
        member, namespace, name, uid = owner
        m = self.members.get(member)
        if m is None or not m.informers["Service"].synced.is_set():
            return None
        svc = m.services.get(f"{namespace}/{name}")
        return svc is not None and state.eligible(svc) and state.uid(svc) == uid

    async def repair(self, grace: float = 300.0) -> Any:
        """IPAM's repair pass over the live caches: release addresses of Services gone
        for ``grace`` seconds; adopt addresses found in Service statuses but missing
        from the Store (so a lost Store never renumbers), and report the ones taken."""
        statuses = []
        for m in self.members.values():
            if m.spec.ipam != "managed":
                continue
            for svc in list(m.services.values()):
                ips = state.ingress_ips(svc) if state.eligible(svc) else []
                if ips:
                    try:
                        statuses.append((request.from_service(
                            m.name, svc, m.namespace_labels(namespace_of(svc))), ips))
                    except errors.FednsError:
                        continue  # its reconcile reports the bad request
        report = await self.ipam.repair(self._alive, statuses, grace)
        for conflict in report.conflicts:
            log.warning("repair: %s: %s (%s)", conflict.address, conflict.message, conflict.reason)
        if report.released or report.adopted:
            log.info("repair: released %d, adopted %d addresses", len(report.released),
                     len(report.adopted))
        return report

    async def reconcile(self, key: Key) -> Result:
        namespace, name = key
        started = time.monotonic()
        ref = desired.ServiceRef(self.federation, namespace, name)
        copies = await asyncio.gather(*(self._copy(m, namespace, name)
                                        for m in self.members.values()))
        where = self.view.locations()
        placed = {loc.member for loc in where}
        states = [s for s, _ in copies if s is not None and s.member in placed]
        want = desired.records(ref, self.domain, where, states, self.ttl)
        changes = await records_apply.apply(self.store, ref, want, self.records)
        if changes.conflicts:
            log.warning("%s/%s: %d record keys exist that fedns did not write; left alone",
                        namespace, name, len(changes.conflicts))
        for m, (_, write) in zip(self.members.values(), copies):
            if write is not None:
                self._write_later(m.name, key, write)
        log.debug("reconciled %s/%s in %.1f ms", namespace, name,
                  (time.monotonic() - started) * 1000)
        return Result(
            published=sum(len(s.addresses) for s in states if s.healthy),
            changed=len(changes.create) + len(changes.update) + len(changes.delete))


def namespace_of(svc: dict[str, Any]) -> str:
    return str((svc.get("metadata") or {}).get("namespace") or "default")


def _labels(obj: Any) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})
