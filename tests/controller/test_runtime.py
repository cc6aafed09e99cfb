"""The controller runtime: events to the controllers that watch them, keys to workers
under the leader, one failing key never holding up the others (memory Store)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry

from fedns import errors
from fedns.controller import metrics, runtime
from fedns.store import memory
from tests.support import aio


class Recorder(runtime.Controller):
    """Reconciles by remembering; keys in ``failing`` raise until ``healed``."""

    def __init__(self, name: str, watches: runtime.Watches, keys: Iterable[Any] = (),
                 failing: Iterable[Any] = ()) -> None:
        super().__init__()
        self.name = name
        self.watches = watches
        self._keys = set(keys)
        self.failing = set(failing)
        self.healed = False
        self.done: list[Any] = []
        self.setups = 0

    def map(self, event: runtime.Event) -> Iterable[Any]:
        if isinstance(event, runtime.MemberEvent):
            return [(event.member, event.key)]
        if isinstance(event, runtime.HealthEvent):
            return [("health", event.member)]
        return [("store", event.key.decode(), event.value)]

    async def keys(self) -> set[Any]:
        return set(self._keys)

    async def setup(self) -> None:
        self.setups += 1

    async def reconcile(self, key: Any) -> runtime.Result:
        if key in self.failing and not self.healed:
            raise errors.TemporaryError(f"{key} is not ready", delay=0.01)
        self.done.append(key)
        return runtime.Result(changed=1)


def make(*controllers: runtime.Controller, seen: list | None = None
         ) -> tuple[runtime.Runtime, memory.MemoryStore, CollectorRegistry]:
    store = memory.MemoryStore("memory://")
    registry = CollectorRegistry()
    rt = runtime.Runtime(store, {}, metrics.ControllerMetrics(registry), resync=3600,
                         observers=[seen.append] if seen is not None else ())
    for c in controllers:
        rt.add(c)
    return rt, store, registry


def queued(c: runtime.Controller) -> list[Any]:
    found = []
    while (key := c.queue.get_nowait()) is not None:
        found.append(key)
        c.queue.done(key)
    return found


def test_events_reach_only_the_controllers_that_watch_them():
    services = Recorder("services", runtime.Watches(kinds=frozenset({"Service"}), health=True))
    nodes = Recorder("nodes", runtime.Watches(kinds=frozenset({"Node"})))
    seen: list = []
    rt, _, _ = make(services, nodes, seen=seen)
    rt.on_change("umich/Service", "default/web", {"x": 1}, None)
    rt.on_change("umich/Node", "n1", {"x": 1}, None)
    rt.on_health("uva", False)
    assert queued(services) == [("umich", "default/web"), ("health", "uva")]
    assert queued(nodes) == [("umich", "n1")]
    assert len(seen) == 3, "observers see every event, first"


async def test_the_leader_reconciles_every_key_and_a_failing_key_alone_is_retried():
    a = Recorder("a", runtime.Watches(), keys={"k1", "k2", "bad"}, failing={"bad"})
    b = Recorder("b", runtime.Watches(), keys={"k3"})
    rt, _, registry = make(a, b)
    lead = asyncio.create_task(rt.lead())
    try:
        await aio.until(lambda: {"k1", "k2"} <= set(a.done) and b.done == ["k3"], 5,
                           "the good keys reconciled")
        await aio.until(lambda: (registry.get_sample_value(
            "fedns_controller_reconcile_total", {"controller": "a", "result": "error"})
            or 0) >= 2, 5, "the bad key retried")
        assert "bad" not in a.done
        a.healed = True
        await aio.until(lambda: "bad" in a.done, 5, "the bad key once it heals")
        assert a.setups == 1 and b.setups == 1
        assert registry.get_sample_value("fedns_controller_reconcile_total",
                                          {"controller": "b", "result": "ok"}) == 1
        assert registry.get_sample_value("fedns_leader") == 1
    finally:
        lead.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lead
    assert registry.get_sample_value("fedns_leader") == 0


async def test_store_prefixes_are_followed_for_the_controllers_that_declare_them():
    pools = Recorder("pools", runtime.Watches(prefixes=(b"/fedns/ipam/pools/",)))
    rt, store, _ = make(pools)
    follow = asyncio.create_task(rt.follow_store())
    try:
        # the watch starts from the revision it finds: write until an event arrives
        async def written() -> bool:
            await store.put(b"/fedns/ipam/pools/p", b"v")
            await store.put(b"/other/x", b"v")
            return bool(pools.queue.depth)

        await aio.until(written, 5, "a pool event")
        seen = queued(pools)
        await store.delete(b"/fedns/ipam/pools/p")

        def deleted() -> bool:
            seen.extend(queued(pools))
            return ("store", "/fedns/ipam/pools/p", None) in seen

        await aio.until(deleted, 5, "the delete")
        assert {k[1] for k in seen} == {"/fedns/ipam/pools/p"}, "other prefixes are not followed"
    finally:
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow


class Waiting:
    """A member for the cache wait: listed or not, probed or not, reachable or not."""

    def __init__(self, synced: bool, probed: bool, ready: bool, error: str = "") -> None:
        self._synced = synced
        self.ready = ready
        self.probe = type("P", (), {"first": asyncio.Event(), "last_error": error})()
        if probed:
            self.probe.first.set()

    def synced(self) -> bool:
        return self._synced


async def test_the_leader_waits_for_reachable_members_caches_not_unreachable_ones():
    a = Recorder("a", runtime.Watches(), keys={"k1"})
    rt, _, _ = make(a)
    rt.sync_timeout = 30.0
    rt.members = {"up": Waiting(True, True, True),
                  "down": Waiting(False, True, False, "connection refused")}
    lead = asyncio.create_task(rt.lead())
    try:
        # well inside the 30 s a member that cannot list would otherwise cost
        await aio.until(lambda: a.done == ["k1"], 5, "reconciled without the down member")
    finally:
        lead.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lead
    b = Recorder("b", runtime.Watches(), keys={"k2"})
    rt, _, _ = make(b)
    rt.sync_timeout = 30.0
    listing = Waiting(False, True, True)  # reachable, still listing: waited for
    rt.members = {"listing": listing}
    lead = asyncio.create_task(rt.lead())
    try:
        await asyncio.sleep(0)  # let the leader start waiting
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert b.done == [], "a reachable member's caches are waited for"
        listing._synced = True
        await aio.until(lambda: b.done == ["k2"], 5, "reconciled once it listed")
    finally:
        lead.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lead
