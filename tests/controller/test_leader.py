"""Leader election on both Store backends: one leader; a crashed one is replaced in TTL."""

from __future__ import annotations

import asyncio
import time

import pytest

from fedns import store
from fedns.controller import leader
from tests.support import aio


@pytest.fixture(params=["memory", "etcd"])
async def st(request):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("etcd").url
    s = await store.open_store(url)
    yield s
    await s.close()


def replica(st, name: str, key: bytes, working: dict[str, bool]) -> leader.Elector:
    async def lead() -> None:
        working[name] = True
        try:
            await asyncio.Event().wait()
        finally:
            working[name] = False

    return leader.Elector(st, name, lead, ttl=2, key=key)


async def test_exactly_one_leader_and_failover_within_ttl(st):
    key = f"/fedns/test-leader-{time.monotonic_ns()}".encode()
    working: dict[str, bool] = {}
    electors = {n: replica(st, n, key, working) for n in ("a", "b", "c")}
    tasks = {n: asyncio.create_task(e.run()) for n, e in electors.items()}
    try:
        first = await aio.until(lambda: [n for n, e in electors.items() if e.leading],
                                timeout=10, what="a leader")
        assert len(first) == 1
        first = first[0]
        assert await electors[first].leader() == first
        assert [n for n, on in working.items() if on] == [first]

        # crash the leader: it stops renewing and never revokes its lease
        async def no_revoke(lease_id: int) -> None:
            return None

        crashed = electors[first]
        crashed.store = type("Frozen", (), {"revoke": staticmethod(no_revoke)})()
        tasks[first].cancel()
        await asyncio.gather(tasks[first], return_exceptions=True)
        start = time.monotonic()
        second = await aio.until(
            lambda: [n for n, e in electors.items() if e.leading and n != first],
            timeout=10, what="a new leader")
        elapsed = time.monotonic() - start
        assert len(second) == 1
        assert elapsed <= 2 + 1.5, f"failover took {elapsed:.2f}s for a 2s TTL"
        assert await electors[second[0]].leader() == second[0]
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def test_graceful_stop_hands_over_at_once(st):
    key = f"/fedns/test-leader-{time.monotonic_ns()}".encode()
    working: dict[str, bool] = {}
    a, b = replica(st, "a", key, working), replica(st, "b", key, working)
    ta = asyncio.create_task(a.run())
    await aio.until(lambda: a.leading, timeout=10, what="a leads")
    tb = asyncio.create_task(b.run())
    start = time.monotonic()
    ta.cancel()  # graceful: revokes the lease
    await asyncio.gather(ta, return_exceptions=True)
    await aio.until(lambda: b.leading, timeout=10, what="b leads")
    assert time.monotonic() - start < 1.5, "a revoked lease hands over without waiting for TTL"
    assert not working.get("a")
    tb.cancel()
    await asyncio.gather(tb, return_exceptions=True)
