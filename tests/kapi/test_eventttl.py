"""Events expire a TTL after their last write (kube-apiserver's --event-ttl), on Store
leases shared as kube-apiserver shares them; over memory:// and a real etcd."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from fedns import store as stores
from fedns.kapi import builtin, leases, storage
from fedns.kapi.status import ApiError
from fedns.store import memory

_prefixes = itertools.count()
TTL = 2


async def _open(request, ttl: int):
    if request.param == "memory":
        store = memory.MemoryStore()
    else:
        store = await stores.open_store(request.getfixturevalue("fresh_etcd").url)
    s = storage.Storage(store, builtin.registry(), prefix=f"/ttl{next(_prefixes)}",
                        settings=storage.Settings(event_ttl=ttl))
    await s.create(s.registry.lookup("", "v1", "namespaces"), "", {"metadata": {"name": "default"}})
    return s


@pytest.fixture(params=["memory", pytest.param("etcd", marks=pytest.mark.etcd)])
async def api(request):
    s = await _open(request, TTL)
    yield s
    await s.store.close()


def event(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "ConfigMap", "name": "cm", "namespace": "default"},
            "reason": "Tested", "message": "m", "type": "Normal"}


async def _gone(api, kind, name: str, deadline: float = 30.0) -> float:
    """Seconds until ``name`` is gone (polled, with a deadline)."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            await api.get(kind, "default", name)
        except ApiError as err:
            assert err.code == 404
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} still there after {deadline}s")


async def test_an_event_expires_and_watchers_see_it_go(api):
    events = api.registry.lookup("", "v1", "events")
    cms = api.registry.lookup("", "v1", "configmaps")
    start = await api.store.revision()
    await api.create(cms, "default", {"metadata": {"name": "cm"}})
    created = await api.create(events, "default", event("cm.1"))
    kv = await api.store.get(api.key(events, "default", "cm.1"))
    assert kv is not None and kv.lease
    assert 0 <= await api.store.time_to_live(kv.lease) <= TTL
    assert not (await api.store.get(api.key(cms, "default", "cm"))).lease  # only Events

    waited = await _gone(api, events, "cm.1")
    assert waited <= TTL + 5
    assert (await api.get(cms, "default", "cm"))["metadata"]["name"] == "cm"
    watch = api.watch(events, "default", resource_version=start)
    seen = [await asyncio.wait_for(watch.__anext__(), 10) for _ in range(2)]
    await watch.aclose()
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [
        ("ADDED", "cm.1"), ("DELETED", "cm.1")]
    assert created["metadata"]["name"] == "cm.1"


async def test_a_write_puts_the_event_on_a_fresh_lease(api):
    events = api.registry.lookup("", "v1", "events")
    await api.create(events, "default", event("cm.2"))
    first = (await api.store.get(api.key(events, "default", "cm.2"))).lease
    # no reuse window at a 2 s TTL (5 % of it is under a second): a later write gets
    # a lease of its own, running from that write
    await api.patch(events, "default", "cm.2", storage.MERGE_PATCH, {"count": 2})
    second = (await api.store.get(api.key(events, "default", "cm.2"))).lease
    assert second and second != first
    assert await api.store.time_to_live(second) >= 1


async def test_no_ttl_keeps_events_for_ever():
    s = storage.Storage(memory.MemoryStore(), builtin.registry(),
                        settings=storage.Settings(event_ttl=0))
    await s.create(s.registry.lookup("", "v1", "namespaces"), "", {"metadata": {"name": "default"}})
    events = s.registry.lookup("", "v1", "events")
    await s.create(events, "default", event("cm.3"))
    assert (await s.store.get(s.key(events, "default", "cm.3"))).lease == 0
    await s.store.close()


@pytest.mark.parametrize("ttl, writes_at, grants", [
    (1200, [0, 30, 59, 61], 2),  # reuse 60 s: the fourth write needs a new lease
    (3600, [0, 61, 122], 3),
    (20, [0, 0.5, 1.5], 2),  # reuse 1 s (5 %)
    (2, [0, 0, 0.1], 2),  # reuse 0: only writes at the very same moment share
], ids=["20-minutes", "hour", "short", "tiny"])
async def test_leases_are_shared_within_the_reuse_window(ttl, writes_at, grants):
    now = [0.0]
    store = memory.MemoryStore()
    pool = leases.Leases(store, ttl, clock=lambda: now[0])
    got = []
    for at in writes_at:
        now[0] = at
        got.append(await pool.lease())
    assert pool.granted == grants
    assert len(set(got)) == grants
    # granted for the TTL and the reuse window on top (read back rounded down)
    assert [await store.time_to_live(lease) >= ttl - 1 for lease in set(got)] == [True] * grants
    await store.close()


async def test_a_lease_lost_before_the_write_is_replaced():
    s = storage.Storage(memory.MemoryStore(), builtin.registry(),
                        settings=storage.Settings(event_ttl=1200))
    await s.create(s.registry.lookup("", "v1", "namespaces"), "", {"metadata": {"name": "default"}})
    events = s.registry.lookup("", "v1", "events")
    await s.create(events, "default", event("cm.4"))
    shared = (await s.store.get(s.key(events, "default", "cm.4"))).lease
    await s.store.revoke(shared)  # also deletes cm.4
    await s.create(events, "default", event("cm.5"))
    fresh = (await s.store.get(s.key(events, "default", "cm.5"))).lease
    assert fresh and fresh != shared
    await s.store.close()
