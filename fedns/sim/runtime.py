"""The controller runtime inside one simulated member: informers over its Storage,
work queues, and writes that the informers see at once.

Like kube-controller-manager, but in process: an :class:`Informer` lists and
watches one kind of the member's :class:`fedns.kapi.storage.Storage` into a cache
and calls its handlers with (old, new) on every change; a :class:`Controller` maps
those changes to keys in its work queue (:class:`fedns.controller.queue.AsyncWorkQueue`:
duplicates collapse, a key is never worked twice at once) and reconciles one key at
a time from the caches, level-triggered.  :class:`Runtime` owns both, and its write
methods feed what they wrote back into the caches before returning, so the next
reconcile never acts on a state older than its own writes (what client-go's
"expectations" are for).  Not for: HTTP (the member's kapi server is separate and
shares only the Store).
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from fedns.controller import queue
from fedns.kapi import objects, status, storage
from fedns.kapi.registry import Kind, Registry
from fedns.sim import meta

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, ...]  # a controller's key: (namespace, name), or longer
Handler = Callable[[Obj | None, Obj | None], None]


@dataclasses.dataclass(frozen=True)
class Settings:
    """How a simulated member behaves.  ``ready_delay``: seconds from a Pod's binding to
    Running and Ready; ``run_seconds``: how long a Pod that runs to completion
    (restartPolicy Never or OnFailure) runs before it Succeeds; ``pod_cidr``: the
    member's Pod range, one /24 per Node in order."""

    ready_delay: float = 0.2
    run_seconds: float = 0.2
    pod_cidr: str = "10.244.0.0/16"


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Informer:
    """A cache of one kind, kept by list+watch; handlers run on every change."""

    def __init__(self, store: storage.Storage, kind: Kind) -> None:
        self.storage = store
        self.kind = kind
        self.cache: dict[meta.Key, Obj] = {}
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self._gone: dict[meta.Key, int] = {}  # our own deletes the watch has not shown yet

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.cache.values())
        return [o for (ns, _), o in self.cache.items() if ns == namespace]

    def observe(self, obj: Obj) -> None:
        """Take ``obj`` if it is newer than what the cache holds."""
        k = meta.key(obj)
        rv = meta.version(obj)
        gone = self._gone.get(k)
        if gone is not None:
            if rv <= gone:
                return
            del self._gone[k]
        old = self.cache.get(k)
        if old is not None and meta.version(old) >= rv:
            return
        self.cache[k] = obj
        self._notify(old, obj)

    def forget(self, obj: Obj) -> None:
        """``obj`` was deleted at its resourceVersion."""
        k = meta.key(obj)
        rv = meta.version(obj)
        old = self.cache.get(k)
        if old is not None and meta.version(old) > rv:
            return
        self._gone[k] = max(rv, self._gone.get(k, 0))
        if old is not None:
            del self.cache[k]
            self._notify(old, None)

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self.handlers:
            try:
                handler(old, new)
            except Exception:  # one bad handler must not stop the cache
                log.exception("handler of %s failed", self.kind.plural)

    async def run(self) -> None:
        while True:
            seen: set[meta.Key] = set()
            listing = True
            try:
                async for event in self.storage.watch(self.kind, initial=True):
                    if event.type == "INITIAL_END":
                        listing = False
                        for k in [k for k in self.cache if k not in seen]:
                            old = self.cache.pop(k)
                            self._notify(old, None)
                        self.synced.set()
                    elif event.type in ("ADDED", "MODIFIED") and event.object is not None:
                        if listing:
                            seen.add(meta.key(event.object))
                        self.observe(event.object)
                    elif event.type == "DELETED" and event.object is not None:
                        k = meta.key(event.object)
                        if self._gone.get(k, -1) <= event.revision:
                            self._gone.pop(k, None)
                        cached = self.cache.get(k)
                        if cached is not None and meta.version(cached) <= event.revision:
                            del self.cache[k]
                            self._notify(cached, None)
            except status.ApiError as err:
                if err.code != 410:
                    raise
                log.info("watch of %s expired; listing again", self.kind.plural)
            await asyncio.sleep(0)


class Controller(abc.ABC):
    """One reconcile loop: ``reconcile(key)`` returns seconds after which to look again,
    or None.  API conflicts and races requeue the key with backoff."""

    name = "controller"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue: queue.AsyncWorkQueue[Key] = queue.AsyncWorkQueue(rate=1000.0, burst=5000)

    def enqueue(self, k: Key) -> None:
        self.queue.add(k)

    def enqueue_obj(self, obj: Obj | None) -> None:
        if obj is not None:
            self.queue.add(meta.key(obj))

    @abc.abstractmethod
    async def reconcile(self, k: Key) -> float | None:
        """Make the member's state for ``k`` what it should be."""

    async def run(self) -> None:
        while True:
            k = await self.queue.get()
            if k is None:
                return
            try:
                again = await self.reconcile(k)
            except status.ApiError as err:
                if err.code not in (404, 409, 410, 422, 500, 504):
                    log.warning("%s %s: %s", self.name, "/".join(k), err)
                self.queue.add_rate_limited(k)
            except Exception:  # a controller keeps running, as upstream
                log.exception("%s %s failed", self.name, "/".join(k))
                self.queue.add_rate_limited(k)
            else:
                self.queue.forget(k)
                if again is not None:
                    self.queue.add_after(k, max(again, 0.001))
            finally:
                self.queue.done(k)


class Runtime:
    """The informers and controllers of one member, and the writes they make."""

    def __init__(self, store: storage.Storage, settings: Settings | None = None,
                 clock: Callable[[], datetime.datetime] = utc_now) -> None:
        self.storage = store
        self.registry: Registry = store.registry
        self.settings = settings or Settings()
        self.clock = clock
        self.informers: dict[str, Informer] = {}
        self.controllers: list[Controller] = []
        self._tasks: list[asyncio.Task[None]] = []

    # -- wiring --------------------------------------------------------------

    def kind(self, plural: str, group: str = "") -> Kind:
        for found in self.registry.kinds(group):
            if found.plural == plural:
                return found
        raise LookupError(f"{plural}.{group or 'core'} is not registered")

    def has(self, plural: str, group: str = "") -> bool:
        return any(k.plural == plural for k in self.registry.kinds(group))

    def informer(self, plural: str, group: str = "") -> Informer:
        kind = self.kind(plural, group)
        name = kind.qualified
        if name not in self.informers:
            self.informers[name] = Informer(self.storage, kind)
        return self.informers[name]

    def watch(self, plural: str, group: str, handler: Handler) -> Informer:
        found = self.informer(plural, group)
        found.handlers.append(handler)
        return found

    def add(self, controller: Controller) -> Controller:
        self.controllers.append(controller)
        return controller

    def now(self) -> datetime.datetime:
        return self.clock()

    def timestamp(self) -> str:
        return objects.timestamp(self.clock())

    async def start(self) -> None:
        for informer in self.informers.values():
            self._tasks.append(asyncio.create_task(informer.run()))
        for informer in self.informers.values():
            await informer.synced.wait()
        for controller in self.controllers:
            self._tasks.append(asyncio.create_task(controller.run()))

    async def stop(self) -> None:
        for controller in self.controllers:
            controller.queue.shutdown()
        for task in self._tasks:
            task.cancel()
        # stopping anyway: what a cancelled task raised no longer matters
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no controller has a key queued or in progress (delayed keys do
        not count); for tests and benchmarks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if all(c.queue.idle.is_set() for c in self.controllers):
                await asyncio.sleep(0.01)
                if all(c.queue.idle.is_set() for c in self.controllers):
                    return True
            await asyncio.sleep(0.005)
        return False

    # -- writes that the caches see at once -----------------------------------

    def _seen(self, kind: Kind, obj: Obj) -> None:
        found = self.informers.get(kind.qualified)
        if found is not None:
            found.observe(obj)

    async def create(self, kind: Kind, obj: Obj) -> Obj:
        created = await self.storage.create(kind, str(meta.meta(obj).get("namespace") or ""),
                                            obj, owned=True)
        self._seen(kind, created)
        return created

    async def update(self, kind: Kind, obj: Obj, *, subresource: str = "") -> Obj:
        """Write ``obj`` (its resourceVersion is the precondition)."""
        namespace, name = meta.key(obj)
        updated = await self.storage.update(kind, namespace, name, obj,
                                            subresource=subresource, owned=True)
        self._seen(kind, updated)
        return updated

    async def update_status(self, kind: Kind, obj: Obj, new_status: Obj) -> Obj:
        changed = dict(obj)
        changed["status"] = new_status
        return await self.update(kind, changed, subresource="status")

    async def record(self, involved: Obj, type_: str, reason: str, message: str,
                     component: str) -> None:
        """A core/v1 Event about ``involved``, as kube-controller-manager's and the
        scheduler's recorders write one (named ``<object>.<hex nanoseconds>``, source
        ``component``).  Best effort, as theirs: a failure is logged, never raised."""
        m = meta.meta(involved)
        namespace = str(m.get("namespace") or "default")
        now = self.timestamp()
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{m.get('name')}.{time.time_ns():x}",
                              "namespace": namespace},
                 "involvedObject": {"apiVersion": involved.get("apiVersion"),
                                    "kind": involved.get("kind"), "name": m.get("name"),
                                    "namespace": namespace, "uid": m.get("uid"),
                                    "resourceVersion": m.get("resourceVersion")},
                 "reason": reason, "message": message, "type": type_,
                 "source": {"component": component}, "reportingComponent": component,
                 "reportingInstance": "", "firstTimestamp": now, "lastTimestamp": now,
                 "count": 1}
        try:
            await self.storage.create(self.kind("events"), namespace, event, owned=True)
        except status.ApiError as err:
            log.debug("event %s about %s/%s: %s", reason, namespace, m.get("name"), err)

    async def delete(self, kind: Kind, obj: Obj, policy: str = "Background",
                     precondition: bool = True) -> None:
        namespace, name = meta.key(obj)
        options: Obj = {"propagationPolicy": policy}
        if precondition and meta.uid(obj):
            options["preconditions"] = {"uid": meta.uid(obj)}
        try:
            gone, removed = await self.storage.delete(kind, namespace, name, options)
        except status.ApiError as err:
            if err.code != 404:
                raise
            return
        found = self.informers.get(kind.qualified)
        if found is not None:
            if removed:
                found.forget(gone)
            else:
                found.observe(gone)


def monotonic() -> float:
    return time.monotonic()
