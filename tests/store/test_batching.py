"""Group commit: merged txns behave exactly as the same txns one after another."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from fedns import store
from fedns.store import base, batching, memory


class Gated(memory.MemoryStore):
    """A memory store that records each txn it runs and can hold them at a gate."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.calls: list[tuple[int, int, int]] = []  # (compares, success ops, failure ops)
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_with: Exception | None = None

    async def txn(self, compare: Sequence[base.Compare], success: Sequence[base.Op] = (),
                  failure: Sequence[base.Op] = ()) -> base.TxnResult:
        self.calls.append((len(compare), len(success), len(failure)))
        await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return await super().txn(compare, success, failure)


@pytest.fixture
def gated() -> tuple[Gated, batching.GroupCommit]:
    inner = Gated()
    return inner, batching.GroupCommit(inner, max_in_flight=1)


async def _start_held(inner: Gated, group: batching.GroupCommit) -> asyncio.Task:
    """A first txn that goes out alone and is held, so the next ones wait and merge."""
    inner.gate.clear()
    first = asyncio.create_task(group.txn([], [base.Put(b"/first", b"1")]))
    while not inner.calls:
        await asyncio.sleep(0)
    return first


async def test_txns_waiting_behind_one_in_flight_go_as_one(gated):
    inner, group = gated
    first = await _start_held(inner, group)
    rest = [asyncio.create_task(group.txn([base.absent(b"/k%d" % i)],
                                          [base.Put(b"/k%d" % i, b"v"), base.Get(b"/first")]))
            for i in range(10)]
    await asyncio.sleep(0)
    inner.gate.set()
    results = await asyncio.gather(first, *rest)
    assert inner.calls == [(0, 1, 0), (10, 20, 0)], "one alone, then the ten merged"
    assert all(r.succeeded for r in results)
    assert len({r.revision for r in results[1:]}) == 1, "the merged ones share one revision"
    for r in results[1:]:
        assert r.responses[0] is None and [kv.value for kv in r.responses[1]] == [b"1"]
    assert (group.batches, group.merged) == (1, 10)


async def test_txns_touching_a_key_another_writes_are_not_merged(gated):
    inner, group = gated
    first = await _start_held(inner, group)
    # b reads what a writes, c writes what a reads: three batches, in order
    a = asyncio.create_task(group.txn([base.absent(b"/x")], [base.Put(b"/x", b"a"),
                                                             base.Get(b"/y")]))
    b = asyncio.create_task(group.txn([base.value_is(b"/x", b"a")], [base.Put(b"/z", b"b")]))
    c = asyncio.create_task(group.txn([], [base.Put(b"/y", b"c")]))
    d = asyncio.create_task(group.txn([], [base.Put(b"/w", b"d")]))
    await asyncio.sleep(0)
    inner.gate.set()
    ra, rb, rc, rd = await asyncio.gather(a, b, c, d)
    await first
    assert ra.succeeded and ra.responses[1] == []
    assert rb.succeeded, "b saw a's write, as if run after it"
    assert rc.succeeded and rd.succeeded
    assert len(inner.calls) == 3, inner.calls  # first; a+d; b+c
    assert (await group.get(b"/z")).value == b"b"


async def test_a_failed_compare_fails_only_its_own_txn(gated):
    inner, group = gated
    await group.put(b"/taken", b"someone")
    first = await _start_held(inner, group)
    jobs = [asyncio.create_task(group.txn([base.absent(b"/j%d" % i)], [base.Put(b"/j%d" % i, b"v")]))
            for i in range(4)]
    loser = asyncio.create_task(group.txn([base.absent(b"/taken")], [base.Put(b"/taken", b"me")],
                                          [base.Get(b"/taken")]))
    await asyncio.sleep(0)
    inner.gate.set()
    *won, lost = await asyncio.gather(*jobs, loser)
    await first
    assert all(r.succeeded for r in won)
    assert not lost.succeeded
    assert [kv.value for kv in lost.responses[0]] == [b"someone"], "its failure branch ran"
    assert (await group.get(b"/taken")).value == b"someone"
    for i in range(4):
        assert (await group.get(b"/j%d" % i)).value == b"v"
    # first alone; the merged five failed; one read of the compared keys (and the
    # loser's failure read); the four blameless went again as one
    assert inner.calls == [(0, 1, 0), (5, 5, 0), (0, 6, 0), (4, 4, 0)]


async def test_txns_that_cannot_be_merged_go_alone(gated):
    inner, group = gated
    first = await _start_held(inner, group)
    prefix = asyncio.create_task(group.txn([], [base.Delete(b"/p/", prefix=True)]))
    writes_on_failure = asyncio.create_task(
        group.txn([base.absent(b"/q")], [base.Put(b"/q", b"1")], [base.Put(b"/r", b"1")]))
    plain = [asyncio.create_task(group.txn([], [base.Put(b"/s%d" % i, b"1")])) for i in range(3)]
    await asyncio.sleep(0)
    inner.gate.set()
    await asyncio.gather(first, prefix, writes_on_failure, *plain)
    assert sorted(inner.calls) == sorted([(0, 1, 0), (0, 1, 0), (1, 1, 1), (0, 3, 0)])


async def test_batches_respect_etcds_operation_limit():
    inner = Gated()
    group = batching.GroupCommit(inner, max_in_flight=1, max_ops=8)
    first = await _start_held(inner, group)
    jobs = [asyncio.create_task(group.txn([base.absent(b"/l%d" % i)], [base.Put(b"/l%d" % i, b"v")]))
            for i in range(20)]
    await asyncio.sleep(0)
    inner.gate.set()
    assert all(r.succeeded for r in await asyncio.gather(first, *jobs))
    assert all(max(c) <= 8 for c in inner.calls), inner.calls
    assert len(inner.calls) == 1 + 3  # 8 + 8 + 4


async def _three_merged_failing(inner: Gated, group: batching.GroupCommit,
                                error: Exception) -> list[object]:
    """Three txns merged behind a held one, then every Store call fails with ``error``."""
    first = await _start_held(inner, group)
    jobs = [asyncio.create_task(group.txn([], [base.Put(b"/e%d" % i, b"v")])) for i in range(3)]
    await asyncio.sleep(0)
    inner.fail_with = error
    inner.gate.set()
    return await asyncio.gather(first, *jobs, return_exceptions=True)


async def test_store_errors_reach_every_caller(gated):
    inner, group = gated
    results = await _three_merged_failing(inner, group, base.Unavailable("etcd is down"))
    assert all(isinstance(r, base.Unavailable) for r in results)
    assert len(inner.calls) == 2, "an unavailable store is not asked once per txn"


async def test_a_merged_txn_refused_for_another_reason_is_retried_one_by_one(gated):
    inner, group = gated
    results = await _three_merged_failing(inner, group, base.StoreError("too many operations"))
    assert all(isinstance(r, base.StoreError) for r in results)
    assert [c[1] for c in inner.calls] == [1, 3, 1, 1, 1]


async def test_concurrent_compare_and_swap_counters_on_real_etcd(etcd):
    """Many writers increment shared counters with CAS loops through one GroupCommit:
    every increment lands exactly once, and etcd never sees a txn it refuses."""
    group = await store.open_store(etcd.url)
    assert isinstance(group, batching.GroupCommit)
    keys = [b"/cas/%d" % i for i in range(20)]
    rng = random.Random(7)

    async def increment(key: bytes) -> int:
        for attempt in range(1000):
            kv = await group.get(key)
            count = int(kv.value) if kv else 0
            result = await group.txn([base.mod_revision_is(key, kv.mod_revision if kv else 0)],
                                     [base.Put(key, str(count + 1).encode())], [base.Get(key)])
            if result.succeeded:
                return attempt
        raise AssertionError("never won")

    try:
        plan = [rng.choice(keys) for _ in range(400)]
        await asyncio.gather(*(increment(k) for k in plan))
        for key in keys:
            kv = await group.get(key)
            assert int(kv.value if kv else b"0") == plan.count(key), key
        assert group.batches > 0 and group.merged > group.batches, "nothing was merged"
    finally:
        await group.close()


async def test_close_fails_txns_in_flight_and_waiting(gated):
    inner, group = gated
    first = await _start_held(inner, group)
    waiting = asyncio.create_task(group.txn([], [base.Put(b"/w", b"v")]))
    await asyncio.sleep(0)
    await group.close()
    results = await asyncio.gather(first, waiting, return_exceptions=True)
    assert all(isinstance(r, base.Unavailable) for r in results), results
