"""The controller runtime: any number of controllers under the one leader election.

Each :class:`Controller` declares what it watches (:class:`Watches`: member kinds,
member health, Store prefixes), maps each event to the keys it dirties
(``map(event)``), lists every key that may need work (``keys()``, on becoming leader
and every resync) and reconciles one key at a time (``reconcile(key) -> Result``).
It owns its work queue; the runtime owns the workers, the metrics (labelled by
controller) and the event plumbing.

Every replica follows every source, so its queues are warm when it becomes leader;
only the leader's workers take keys.  Events never carry decisions: ``map`` only says
which keys to look at again (level-triggered).  Not for: what a controller does —
see :mod:`fedns.controller.services`, :mod:`fedns.controller.status` and
:mod:`fedns.controller.propagation`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from fedns import errors
from fedns.controller import metrics as metrics_mod
from fedns.controller import queue as queue_mod
from fedns.store import base

log = logging.getLogger(__name__)

Key = Hashable


@dataclasses.dataclass(frozen=True)
class Result:
    """What one reconcile did; ``requeue_after`` > 0 asks to look again later."""

    published: int = 0  # healthy targets in the records (the Service controller)
    changed: int = 0  # keys or objects created, updated or deleted
    requeue_after: float = 0.0


@dataclasses.dataclass(frozen=True)
class MemberEvent:
    """An object of kind ``kind`` changed in ``member`` (``obj`` None: deleted)."""

    member: str
    kind: str
    key: str  # namespace/name, or name for cluster-scoped kinds
    obj: Any
    old: Any


@dataclasses.dataclass(frozen=True)
class HealthEvent:
    """The member's damped health changed."""

    member: str
    ready: bool


@dataclasses.dataclass(frozen=True)
class StoreEvent:
    """A key under a watched prefix changed (``value`` None: deleted)."""

    prefix: bytes
    key: bytes
    value: bytes | None
    revision: int


Event = MemberEvent | HealthEvent | StoreEvent


@dataclasses.dataclass(frozen=True)
class Watches:
    """What a controller follows."""

    kinds: frozenset[str] = frozenset()  # member kinds, e.g. {"Service"}
    health: bool = False  # member health changes
    prefixes: tuple[bytes, ...] = ()  # Store prefixes


class Controller(abc.ABC):
    """A controller of the runtime: subclasses set ``name`` and ``watches`` and
    implement ``map``, ``keys`` and ``reconcile``."""

    name = "controller"
    watches = Watches()
    workers = 1

    def __init__(self) -> None:
        self.queue: queue_mod.AsyncWorkQueue[Key] = queue_mod.AsyncWorkQueue()

    def map(self, event: Event) -> Iterable[Key]:
        """The keys ``event`` may have changed the desired state of."""
        return ()

    def urgent(self, event: Event) -> bool:
        """True when the keys of ``event`` go before the others in the queue (new work
        before the follow-ups of a burst: see :meth:`.queue.WorkQueue.add`)."""
        return False

    async def keys(self) -> Iterable[Key]:
        """Every key that could need work (missed deletions included)."""
        return ()

    async def setup(self) -> None:
        """The leader's work before the workers start, and at every resync."""

    @abc.abstractmethod
    async def reconcile(self, key: Any) -> Result:
        """Make the state of ``key`` what it should be, whatever happened before."""

    def relist(self) -> None:
        """What the controller remembers of the Store may be stale (a new term, a
        watch that fell behind compaction): forget it.  ``keys()`` follows."""


C = TypeVar("C", bound=Controller)


@dataclasses.dataclass(frozen=True)
class _Series:
    """One controller's metric series."""

    depth: Any
    seconds: Any
    ok: Any
    errors: Any


def unreachable(member: Any) -> bool:
    """The member's probe has answered, and it was a failure."""
    probe = getattr(member, "probe", None)
    return bool(probe is not None and probe.first.is_set() and not member.ready
                and probe.last_error)


def retry_delay(err: BaseException) -> float | None:
    """None for a permanent failure (do not retry), else the wait to ask for."""
    if isinstance(err, errors.PermanentError):
        return None
    if isinstance(err, errors.TemporaryError):
        return err.delay
    return 0.0  # unknown: let the queue's backoff decide


class Runtime:
    """Hosts controllers: routes events to them, runs their workers while leading."""

    def __init__(self, store: base.Store, members: Mapping[str, Any],
                 metrics: metrics_mod.ControllerMetrics, *, resync: float = 300.0,
                 sync_timeout: float = 30.0,
                 observers: Iterable[Callable[[Event], None]] = ()) -> None:
        self.store = store
        self.members = members
        self.metrics = metrics
        self.resync = resync
        self.sync_timeout = sync_timeout
        # see every event before the controllers map it (shared caches, e.g. indexes)
        self.observers = list(observers)
        self.controllers: list[Controller] = []
        self._series: dict[str, _Series] = {}
        self.reconciles = 0

    def add(self, controller: C) -> C:
        if any(c.name == controller.name for c in self.controllers):
            raise ValueError(f"controller {controller.name!r} added twice")
        self.controllers.append(controller)
        # the labelled series, looked up once: labels() costs more than the update
        self._series[controller.name] = _Series(
            self.metrics.queue_depth.labels(controller.name),
            self.metrics.reconcile_seconds.labels(controller.name),
            self.metrics.reconciles.labels(controller.name, "ok"),
            self.metrics.reconciles.labels(controller.name, "error"))
        return controller

    def controller(self, name: str) -> Controller:
        return next(c for c in self.controllers if c.name == name)

    # -- events (every replica) --------------------------------------------------

    def dispatch(self, event: Event) -> None:
        for observe in self.observers:
            observe(event)
        for c in self.controllers:
            w = c.watches
            if isinstance(event, MemberEvent):
                wanted = event.kind in w.kinds
            elif isinstance(event, HealthEvent):
                wanted = w.health
            else:
                wanted = event.prefix in w.prefixes
            if wanted:
                keys = c.map(event)
                if keys:
                    urgent = c.urgent(event)
                    for key in keys:
                        c.queue.add(key, urgent)
                self._depth(c)

    def on_change(self, source: str, key: str, obj: Any, old: Any) -> None:
        """Member informer callback; ``source`` is ``member/Kind``."""
        member, _, kind = source.partition("/")
        self.dispatch(MemberEvent(member, kind, key, obj, old))

    def on_health(self, member: str, ready: bool) -> None:
        """Member health callback."""
        self.metrics.member_ready.labels(member).set(1 if ready else 0)
        m = self.members.get(member)
        if ready:
            log.info("member %s is Ready", member)
        else:
            log.warning("member %s is NotReady: %s", member,
                        m.probe.last_error if m is not None else "unknown")
        self.dispatch(HealthEvent(member, ready))

    async def follow_store(self) -> None:
        """Watch every prefix some controller declared, dispatching its changes; a
        watch that fell behind compaction starts again from now and every controller
        of that prefix looks at all its keys."""
        prefixes = sorted({p for c in self.controllers for p in c.watches.prefixes})
        await asyncio.gather(*(self._follow(p) for p in prefixes))

    async def _follow(self, prefix: bytes) -> None:
        delay = 0.1
        start = 0
        while True:
            try:
                start = start or await self.store.revision() + 1
                events = self.store.watch(prefix, start, prev=False)
                async with contextlib.aclosing(events):
                    async for batch in events:
                        for e in batch:
                            value = e.kv.value if e.type is base.EventType.PUT else None
                            self.dispatch(StoreEvent(prefix, e.kv.key, value,
                                                     e.kv.mod_revision))
                        start = batch[-1].kv.mod_revision + 1
                        delay = 0.1
            except asyncio.CancelledError:
                raise
            except base.Compacted:
                log.info("watch of %s fell behind compaction: looking at everything",
                         prefix.decode())
                start = 0
                for c in self.controllers:
                    if prefix in c.watches.prefixes:
                        c.relist()
                        for key in await c.keys():
                            c.queue.add(key)
                continue
            except Exception as err:  # noqa: BLE001 - keep following whatever the Store did
                log.warning("watch of %s failed (%s); resuming in %.1fs", prefix.decode(),
                            err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # -- work (the leader) -------------------------------------------------------

    async def wait_idle(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until no controller has a key queued or in
        progress."""
        deadline = time.monotonic() + timeout
        for c in self.controllers:
            if not await c.queue.wait_idle(max(0.0, deadline - time.monotonic())):
                return False
        return True

    async def _wait_for_caches(self) -> None:
        """Until every member's caches have listed once, or its probe has answered
        that it cannot be reached (its caches would never list: a restart with a
        member down must not hold up the others for ``sync_timeout``)."""
        deadline = time.monotonic() + self.sync_timeout
        while not all(m.synced() or unreachable(m) for m in self.members.values()):
            if time.monotonic() > deadline:
                late = [m.name for m in self.members.values() if not m.synced()]
                log.warning("members not synced after %ss: %s; reconciling anyway",
                            self.sync_timeout, ", ".join(late))
                return
            await asyncio.sleep(0.05)

    def _depth(self, c: Controller) -> None:
        self._series[c.name].depth.set(c.queue.depth)

    async def _work(self, c: Controller) -> None:
        series = self._series[c.name]
        while (key := await c.queue.get()) is not None:
            started = time.monotonic()
            try:
                result = await c.reconcile(key)
            except asyncio.CancelledError:
                c.queue.done(key)
                raise
            except Exception as err:
                series.errors.inc()
                delay = retry_delay(err)
                if delay is None:
                    log.error("%s %s: %s (not retried)", c.name, _show(key), err)
                    c.queue.forget(key)
                elif delay > 0:
                    log.info("%s %s: %s; retrying in %.1fs", c.name, _show(key), err, delay)
                    c.queue.add_after(key, delay)
                else:
                    log.warning("%s %s: %s", c.name, _show(key), err,
                                exc_info=not isinstance(err, OSError))
                    c.queue.add_rate_limited(key)
            else:
                series.ok.inc()
                c.queue.forget(key)
                if result.requeue_after > 0:
                    c.queue.add_after(key, result.requeue_after)
            finally:
                series.seconds.observe(time.monotonic() - started)
                c.queue.done(key)
                self.reconciles += 1
                self._depth(c)

    async def _setup(self, c: Controller) -> None:
        try:
            await c.setup()
        except Exception as err:  # noqa: BLE001 - tried again at the next resync
            log.warning("%s: setup failed: %s", c.name, err)

    async def lead(self) -> None:
        """The leader's work: catch up on everything, then keep every queue drained."""
        self.metrics.leader.set(1)
        workers: list[asyncio.Task[None]] = []
        try:
            await self._wait_for_caches()
            for c in self.controllers:
                await self._setup(c)
                c.queue = _fresh(c.queue)
                workers += [asyncio.create_task(self._work(c), name=f"{c.name}-{i}")
                            for i in range(c.workers)]
            while True:
                for c in self.controllers:
                    # a full pass reads the Store afresh: what this replica remembers
                    # cannot show a change someone else made
                    c.relist()
                    for key in await c.keys():
                        c.queue.add(key)
                    self._depth(c)
                await asyncio.sleep(self.resync)
                for c in self.controllers:
                    await self._setup(c)
        finally:
            self.metrics.leader.set(0)
            for c in self.controllers:
                c.queue.shutdown()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


def _fresh(old: queue_mod.AsyncWorkQueue[Key]) -> queue_mod.AsyncWorkQueue[Key]:
    """A queue for this term, keeping the keys the old one collected."""
    fresh: queue_mod.AsyncWorkQueue[Key] = queue_mod.AsyncWorkQueue()
    while (key := old.get_nowait()) is not None:
        fresh.add(key)
    return fresh


def _show(key: Key) -> str:
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
