"""The controller's running part: events to keys, keys to workers, workers to reconciles.

Every replica follows every member (so its caches are warm when it becomes leader)
and turns each change into a key in its queue; only the leader's workers take keys
off the queue.  On becoming leader, and every ``resync`` seconds, every key that
could need work is enqueued: eligible Services in the caches, services with records
in the Store, and Services holding addresses — so deletions missed while no replica
was leading are still cleaned up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fedns.api import metrics as metrics_mod
from fedns.controller import queue as queue_mod
from fedns.controller import reconciler as reconciler_mod
from fedns.controller import state
from fedns.members import member as member_mod
from fedns.records import apply as records_apply

log = logging.getLogger(__name__)

Key = tuple[str, str]


class Manager:
    """Owns the queue and the workers of one replica."""

    def __init__(
        self,
        reconciler: reconciler_mod.Reconciler,
        members: Mapping[str, member_mod.Member],
        metrics: metrics_mod.ControllerMetrics,
        extra_keys: Callable[[], Iterable[Key]] | None = None,
        workers: int = 4,
        resync: float = 300.0,
        sync_timeout: float = 30.0,
    ) -> None:
        self.reconciler = reconciler
        self.members = members
        self.metrics = metrics
        self.queue: queue_mod.AsyncWorkQueue[Key] = queue_mod.AsyncWorkQueue()
        self._extra_keys = extra_keys or (lambda: ())
        self.workers = workers
        self.resync = resync
        self.sync_timeout = sync_timeout
        self.reconciles = 0
        self.repair_grace = 300.0
        reconciler.requeue = lambda key, delay: self.queue.add_after(key, delay)
        reconciler.wait_idle = self.wait_idle

    async def wait_idle(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until no key is queued or in progress:
        what may wait behind the reconciles (status writes, publishing) waits here."""
        return await self.queue.wait_idle(timeout)

    # -- events (every replica) ----------------------------------------------

    def on_change(self, source: str, key: str, obj: Any, old: Any) -> None:
        """Informer callback: ``source`` is ``member/Kind``; enqueue the service key."""
        member_name, _, kind = source.partition("/")
        if kind == "Service":
            namespace, _, name = key.partition("/")
            if (state.eligible(obj) or state.eligible(old)) and \
                    not self.reconciler.is_echo(member_name, key, obj, old):
                self.queue.add((namespace, name))
        elif kind == "EndpointSlice":
            for service in self.reconciler.slices.update(member_name, key, obj, old):
                self.queue.add(service)
        elif kind == "Namespace" and _labels(obj) != _labels(old):
            # pool namespace selectors may now match differently: look again at the
            # namespace's services in that member
            m = self.members.get(member_name)
            for svc_key, svc in list(m.services.items()) if m is not None else ():
                namespace, _, name = svc_key.partition("/")
                if namespace == key and state.eligible(svc):
                    self.queue.add((namespace, name))
        self.metrics.queue_depth.set(self.queue.depth)

    def on_health(self, member_name: str, ready: bool) -> None:
        self.metrics.member_ready.labels(member_name).set(1 if ready else 0)
        m = self.members.get(member_name)
        if ready:
            log.info("member %s is Ready", member_name)
        else:
            log.warning("member %s is NotReady: %s", member_name,
                        m.probe.last_error if m is not None else "unknown")
        if m is not None:
            for key, svc in list(m.services.items()):
                if state.eligible(svc):
                    namespace, _, name = key.partition("/")
                    self.queue.add((namespace, name))

    async def all_keys(self) -> set[Key]:
        keys: set[Key] = set()
        for m in self.members.values():
            for key, svc in list(m.services.items()):
                if state.eligible(svc):
                    namespace, _, name = key.partition("/")
                    keys.add((namespace, name))
        prefix = f"{records_apply.OWNERS_PREFIX}{self.reconciler.federation}/".encode()
        listing = await self.reconciler.store.range(prefix)
        for kv in listing.kvs:
            namespace, _, name = kv.key[len(prefix):].decode().partition("/")
            if name:
                keys.add((namespace, name))
        keys.update(self._extra_keys())
        return keys

    # -- work (the leader) ---------------------------------------------------

    async def _wait_for_caches(self) -> None:
        deadline = time.monotonic() + self.sync_timeout
        while not all(m.synced() for m in self.members.values()):
            if time.monotonic() > deadline:
                late = [m.name for m in self.members.values() if not m.synced()]
                log.warning("members not synced after %ss: %s; reconciling anyway",
                            self.sync_timeout, ", ".join(late))
                return
            await asyncio.sleep(0.05)

    async def _work(self) -> None:
        while (key := await self.queue.get()) is not None:
            started = time.monotonic()
            try:
                result = await self.reconciler.reconcile(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except Exception as err:
                self.metrics.reconciles.labels("error").inc()
                delay = reconciler_mod.retry_delay(err)
                if delay is None:
                    log.error("%s/%s: %s (not retried)", *key, err)
                    self.queue.forget(key)
                elif delay > 0:
                    log.info("%s/%s: %s; retrying in %.1fs", *key, err, delay)
                    self.queue.add_after(key, delay)
                else:
                    log.warning("%s/%s: %s", *key, err, exc_info=not isinstance(err, OSError))
                    self.queue.add_rate_limited(key)
            else:
                self.metrics.reconciles.labels("ok").inc()
                self.queue.forget(key)
                if result.requeue_after > 0:
                    self.queue.add_after(key, result.requeue_after)
            finally:
                self.metrics.reconcile_seconds.observe(time.monotonic() - started)
                self.queue.done(key)
                self.reconciles += 1
                self.metrics.queue_depth.set(self.queue.depth)

    async def lead(self) -> None:
        """The leader's work: catch up on everything, then keep the queue drained."""
        self.metrics.leader.set(1)
        workers: list[asyncio.Task] = []
        try:
            await self._wait_for_caches()
            # before any reconcile: adopt addresses Services already show, so a Store
            # that lost them never renumbers a Service
            await self._repair()
            self.queue = self._fresh_queue()
            workers = [asyncio.create_task(self._work(), name=f"worker-{i}")
                       for i in range(self.workers)]
            while True:
                # a full pass reads every service's records afresh: what this replica
                # remembers of them cannot show a change someone else made
                self.reconciler.records.clear()
                for key in await self.all_keys():
                    self.queue.add(key)
                self.metrics.queue_depth.set(self.queue.depth)
                await asyncio.sleep(self.resync)
                await self._repair()
        finally:
            self.metrics.leader.set(0)
            self.queue.shutdown()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _repair(self) -> None:
        try:
            await self.reconciler.repair(self.repair_grace)
        except Exception as err:  # noqa: BLE001 - repair is retried at the next resync
            log.warning("IPAM repair pass failed: %s", err)

    def _fresh_queue(self) -> queue_mod.AsyncWorkQueue[Key]:
        """A queue for this term, keeping the keys the old one collected."""
        fresh: queue_mod.AsyncWorkQueue[Key] = queue_mod.AsyncWorkQueue()
        while (key := self.queue.get_nowait()) is not None:
            fresh.add(key)
        return fresh


def _labels(obj: Any) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})
