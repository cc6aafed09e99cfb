"""The work queue's client-go semantics, driven by a fake clock (no sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from fedns.controller import queue
from tests.support import aio


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drain(q: queue.WorkQueue) -> list:
    out = []
    while (key := q.get_nowait()) is not None:
        out.append(key)
    return out


def test_duplicate_keys_collapse():
    q = queue.WorkQueue(clock=FakeClock())
    for key in ["a", "b", "a", "a", "c", "b"]:
        q.add(key)
    assert drain(q) == ["a", "b", "c"]


def test_a_key_is_never_handed_out_twice_at_once():
    q = queue.WorkQueue(clock=FakeClock())
    q.add("a")
    assert q.get_nowait() == "a"
    q.add("a")  # dirtied while in flight
    assert q.get_nowait() is None, "still processing: must not be handed out again"
    assert q.processing == {"a"}
    q.done("a")
    assert q.get_nowait() == "a", "requeued when done because it was dirtied"
    q.done("a")
    assert q.get_nowait() is None and q.processing == frozenset()


@pytest.mark.parametrize("adds, expected", [
    ([("a", False), ("b", False), ("c", True)], ["c", "a", "b"]),
    ([("a", False), ("b", True), ("c", True)], ["b", "c", "a"]),
    # a queued key asked for urgently moves to the urgent line, once
    ([("a", False), ("b", False), ("b", True), ("b", False)], ["b", "a"]),
    ([("a", True), ("a", False), ("b", True)], ["a", "b"]),
], ids=["urgent-first", "urgent-in-order", "promoted", "not-demoted"])
def test_urgent_keys_go_first(adds, expected):
    q = queue.WorkQueue(clock=FakeClock())
    for key, urgent in adds:
        q.add(key, urgent)
    assert len(q) == len(expected) and q.depth == len(expected)
    assert drain(q) == expected
    assert len(q) == 0


def test_a_long_urgent_run_lets_the_others_through():
    q = queue.WorkQueue(clock=FakeClock())
    for key in ["n1", "n2"]:
        q.add(key)
    for i in range(10):
        q.add(f"u{i}", urgent=True)
    assert drain(q) == ["u0", "u1", "u2", "u3", "n1", "u4", "u5", "u6", "u7", "n2",
                        "u8", "u9"]


def test_urgent_while_processing_requeues_urgently():
    q = queue.WorkQueue(clock=FakeClock())
    q.add("a")
    q.add("b")
    assert q.get_nowait() == "a"
    q.add("a", urgent=True)  # dirtied while in flight, urgently
    q.done("a")
    assert drain(q) == ["a", "b"]
    q.done("a")
    q.done("b")
    q.add("b")
    q.add("a")
    assert drain(q) == ["b", "a"], "the urgency was used up"


def test_done_without_readd_does_not_requeue():
    q = queue.WorkQueue(clock=FakeClock())
    q.add("a")
    q.done(q.get_nowait())
    assert q.get_nowait() is None


def test_add_after_waits_for_the_clock():
    clock = FakeClock()
    q = queue.WorkQueue(clock=clock)
    q.add_after("late", 2.0)
    q.add_after("soon", 1.0)
    assert q.get_nowait() is None and q.next_due() == pytest.approx(1.0)
    clock.now += 1.0
    assert drain(q) == ["soon"]
    clock.now += 1.0
    assert drain(q) == ["late"]


@pytest.mark.parametrize("failures, expected", [(0, 0.005), (1, 0.01), (3, 0.04), (40, 1000.0)],
                         ids=["first", "second", "fourth", "capped"])
def test_per_key_exponential_backoff(failures, expected):
    backoff = queue.ExponentialBackoff(base=0.005, cap=1000.0)
    for _ in range(failures):
        backoff.when("k")
    assert backoff.when("k") == pytest.approx(expected)
    assert backoff.when("other") == pytest.approx(0.005), "backoff is per key"


def test_forget_resets_backoff():
    clock = FakeClock()
    q = queue.WorkQueue(clock=clock, rate=1e9, burst=10**9)
    delays = [q.add_rate_limited("k") for _ in range(4)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04])
    q.forget("k")
    assert q.add_rate_limited("k") == pytest.approx(0.005)


def test_global_rate_limit_spaces_out_requeues():
    clock = FakeClock()
    q = queue.WorkQueue(clock=clock, rate=10.0, burst=2)
    delays = [q.add_rate_limited(f"k{i}") for i in range(5)]
    # two tokens of burst, then one every 100 ms
    assert delays == pytest.approx([0.005, 0.005, 0.1, 0.2, 0.3])
    clock.now += 0.1
    assert sorted(drain(q)) == ["k0", "k1", "k2"]


async def test_async_get_wakes_on_add_and_on_delay():
    q: queue.AsyncWorkQueue[str] = queue.AsyncWorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 2) == "x"
    q.done("x")
    q.add_after("y", 0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await asyncio.wait_for(q.get(), 2) == "y"
    assert loop.time() - start >= 0.04
    q.shutdown()
    assert await asyncio.wait_for(q.get(), 2) is None


async def test_workers_never_overlap_on_a_key():
    q: queue.AsyncWorkQueue[int] = queue.AsyncWorkQueue()
    active: set[int] = set()
    overlaps = []
    processed = []

    async def worker() -> None:
        while (key := await q.get()) is not None:
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0)
            if len(processed) < 200:
                q.add(key)  # dirty it while in flight
            processed.append(key)
            active.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for key in range(5):
        q.add(key)
    await aio.until(lambda: len(processed) >= 200 and not len(q) and not q.processing,
                    what="all work processed")
    q.shutdown()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert overlaps == []
    assert set(processed) == set(range(5))


async def test_idle_means_nothing_queued_or_in_progress():
    q: queue.AsyncWorkQueue[str] = queue.AsyncWorkQueue()
    assert await q.wait_idle(0.01)
    q.add("a")
    q.add_after("later", 60)  # a delayed key does not keep the queue busy
    assert not q.idle.is_set()
    assert not await q.wait_idle(0.01), "times out while a key waits"
    waiter = asyncio.create_task(q.wait_idle(5))
    key = await q.get()
    assert not q.idle.is_set(), "still busy while the key is processed"
    q.done(key)
    assert await waiter
