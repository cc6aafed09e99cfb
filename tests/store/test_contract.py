"""The Store contract, run against both backends: memory:// and a real etcd."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest

from fedns import store
from fedns.store import base

_prefixes = itertools.count()


@pytest.fixture(params=["memory", "etcd"])
async def st(request: pytest.FixtureRequest) -> AsyncIterator[tuple[base.Store, bytes]]:
    """(store, a prefix no other test uses) for each backend."""
    if request.param == "memory":
        url = "memory://"
    else:
        url = request.getfixturevalue("etcd").url
    s = await store.open_store(url)
    try:
        yield s, f"/t{next(_prefixes)}-{time.monotonic_ns()}/".encode()
    finally:
        await s.close()


async def _next(it: AsyncIterator[list[base.Event]], timeout: float = 5) -> list[base.Event]:
    return await asyncio.wait_for(it.__anext__(), timeout)


async def test_revision_increases_by_one_per_write(st):
    s, p = st
    r0 = await s.revision()
    r1 = await s.put(p + b"a", b"1")
    r2 = await s.put(p + b"a", b"2")
    assert (r1, r2) == (r0 + 1, r0 + 2)
    await s.delete(p + b"a")
    assert await s.revision() == r0 + 3
    assert await s.delete(p + b"missing") == 0
    assert await s.revision() == r0 + 3, "a delete of nothing is not a write"
    res = await s.txn([], [base.Put(p + b"x", b"1"), base.Put(p + b"y", b"2")])
    assert res.revision == r0 + 4, "one txn is one revision"


async def test_key_metadata_follows_etcd(st):
    s, p = st
    r1 = await s.put(p + b"k", b"v1")
    r2 = await s.put(p + b"k", b"v2")
    kv = await s.get(p + b"k")
    assert (kv.value, kv.create_revision, kv.mod_revision, kv.version) == (b"v2", r1, r2, 2)
    await s.delete(p + b"k")
    r4 = await s.put(p + b"k", b"v3")
    kv = await s.get(p + b"k")
    assert (kv.create_revision, kv.version) == (r4, 1), "a delete resets the key's history"


async def test_txn_create_if_absent_has_exactly_one_winner(st):
    s, p = st
    key = p + b"leader"

    async def contender(i: int) -> bool:
        res = await s.txn([base.absent(key)], [base.Put(key, str(i).encode())])
        return res.succeeded

    wins = await asyncio.gather(*(contender(i) for i in range(20)))
    assert sum(wins) == 1
    winner = wins.index(True)
    assert (await s.get(key)).value == str(winner).encode()


@pytest.mark.parametrize(
    "make_compare, holds",
    [
        (lambda kv: base.value_is(kv.key, b"v2"), True),
        (lambda kv: base.value_is(kv.key, b"v1"), False),
        (lambda kv: base.mod_revision_is(kv.key, kv.mod_revision), True),
        (lambda kv: base.mod_revision_is(kv.key, kv.mod_revision - 1), False),
        (lambda kv: base.version_is(kv.key, 2), True),
        (lambda kv: base.version_is(kv.key, 1), False),
        (lambda kv: base.Compare(kv.key, base.Target.VERSION, ">", 1), True),
        (lambda kv: base.Compare(kv.key, base.Target.MOD, "<", kv.mod_revision), False),
        (lambda kv: base.Compare(kv.key, base.Target.VALUE, "!=", b"v2"), False),
        (lambda kv: base.absent(kv.key), False),
    ],
    ids=["value-eq", "value-ne", "mod-eq", "mod-stale", "version-eq", "version-stale",
         "version-gt", "mod-lt", "value-neq", "absent"],
)
async def test_txn_compares(st, make_compare, holds):
    s, p = st
    key = p + b"c"
    await s.put(key, b"v1")
    await s.put(key, b"v2")
    kv = await s.get(key)
    res = await s.txn(
        [make_compare(kv)],
        success=[base.Put(p + b"branch", b"success"), base.Get(key)],
        failure=[base.Put(p + b"branch", b"failure"), base.Get(key)],
    )
    assert res.succeeded is holds
    assert (await s.get(p + b"branch")).value == (b"success" if holds else b"failure")
    assert [kv.value for kv in res.responses[1]] == [b"v2"]


async def test_range_over_prefix_and_at_an_older_revision(st):
    s, p = st
    await s.put(p + b"a/1", b"1")
    await s.put(p + b"a/2", b"2")
    await s.put(p + b"b/1", b"x")
    before = await s.put(p + b"a/3", b"3")
    await s.put(p + b"a/1", b"changed")
    await s.delete(p + b"a/2")
    now = await s.range(p + b"a/")
    assert [(kv.key, kv.value) for kv in now.kvs] == [(p + b"a/1", b"changed"), (p + b"a/3", b"3")]
    old = await s.range(p + b"a/", revision=before)
    assert [(kv.key, kv.value) for kv in old.kvs] == [
        (p + b"a/1", b"1"), (p + b"a/2", b"2"), (p + b"a/3", b"3")]
    assert (await s.get(p + b"a/2", revision=before)).value == b"2"
    limited = await s.range(p + b"a/", limit=1)
    assert len(limited.kvs) == 1 and limited.more and limited.count == 2


async def test_delete_of_a_prefix(st):
    s, p = st
    for k in (b"x/1", b"x/2", b"x/3/deep", b"y"):
        await s.put(p + k, b"v")
    assert await s.delete(p + b"x/", prefix=True) == 3
    assert [kv.key for kv in (await s.range(p)).kvs] == [p + b"y"]


async def test_watch_from_a_revision_delivers_every_later_event_in_order(st):
    s, p = st
    start = await s.put(p + b"w/0", b"0")
    writes = []
    for i in range(1, 30):
        writes.append(("PUT", p + b"w/%d" % (i % 7), await s.put(p + b"w/%d" % (i % 7), b"%d" % i)))
        if i % 5 == 0:
            writes.append(("DELETE", p + b"w/%d" % (i % 7), await s.revision() + 1))
            await s.delete(p + b"w/%d" % (i % 7))
    await s.put(p + b"elsewhere", b"not watched")  # outside the watched prefix
    watch = s.watch(p + b"w/", start + 1)
    seen: list[tuple[str, bytes, int]] = []
    try:
        while len(seen) < len(writes):
            for ev in await _next(watch):
                seen.append((ev.type.value, ev.kv.key, ev.kv.mod_revision))
        # events after the watch started arrive too, in order
        live = await s.put(p + b"w/live", b"1")
        ev = (await _next(watch))[0]
        assert (ev.kv.key, ev.kv.mod_revision) == (p + b"w/live", live)
    finally:
        await watch.aclose()
    assert seen == writes
    revisions = [r for _, _, r in seen]
    assert revisions == sorted(revisions)


async def test_watch_reports_deletes_with_previous_value(st):
    s, p = st
    await s.put(p + b"d", b"old")
    watch = s.watch(p, await s.revision() + 1)
    try:
        await s.delete(p + b"d")
        [ev] = await _next(watch)
    finally:
        await watch.aclose()
    assert ev.type is base.EventType.DELETE and ev.kv.key == p + b"d"
    assert ev.prev is not None and ev.prev.value == b"old"


async def test_watch_without_previous_values_still_reports_every_change(st):
    s, p = st
    await s.put(p + b"e", b"old")
    watch = s.watch(p, await s.revision() + 1, prev=False)
    try:
        await s.put(p + b"e", b"new")
        [put] = await _next(watch)
        await s.delete(p + b"e")
        [gone] = await _next(watch)
    finally:
        await watch.aclose()
    assert put.type is base.EventType.PUT and put.kv.value == b"new"
    assert gone.type is base.EventType.DELETE and gone.kv.key == p + b"e"
    if s.url.startswith("etcd://"):
        assert put.prev is None and gone.prev is None, "etcd sends no previous values"


async def test_watch_from_a_compacted_revision_raises_compacted(st):
    s, p = st
    first = await s.put(p + b"c", b"1")
    await s.put(p + b"c", b"2")
    last = await s.put(p + b"c", b"3")
    await s.compact(last)
    watch = s.watch(p, first)
    with pytest.raises(base.Compacted):
        await _next(watch)
    with pytest.raises(base.Compacted):
        await s.range(p, revision=first)
    # the compaction point itself is still readable
    assert [kv.value for kv in (await s.range(p, revision=last)).kvs] == [b"3"]


async def test_leased_key_disappears_when_the_lease_expires(st):
    s, p = st
    lease = await s.grant(1)
    await s.put(p + b"eph", b"alive", lease=lease.id)
    assert (await s.get(p + b"eph")).lease == lease.id
    deadline = time.monotonic() + 10
    while await s.get(p + b"eph") is not None:
        assert time.monotonic() < deadline, "leased key outlived its lease"
        await asyncio.sleep(0.05)
    with pytest.raises(base.LeaseNotFound):
        await s.keepalive(lease.id)
    with pytest.raises(base.LeaseNotFound):
        await s.put(p + b"eph", b"again", lease=lease.id)


async def test_leased_key_stays_while_kept_alive(st):
    s, p = st
    lease = await s.grant(1)
    await s.put(p + b"kept", b"alive", lease=lease.id)
    end = time.monotonic() + 3  # three TTLs
    while time.monotonic() < end:
        assert await s.keepalive(lease.id) >= 1
        assert await s.get(p + b"kept") is not None
        await asyncio.sleep(0.2)
    await s.revoke(lease.id)
    assert await s.get(p + b"kept") is None


async def test_time_to_live_counts_down_and_is_renewed(st):
    s, _ = st
    lease = await s.grant(20)
    assert await s.time_to_live(lease.id) in (19, 20)  # whole seconds, rounded down
    await asyncio.sleep(1.1)
    assert await s.time_to_live(lease.id) in (17, 18)
    await s.keepalive(lease.id)
    assert await s.time_to_live(lease.id) in (19, 20)
    await s.revoke(lease.id)
    with pytest.raises(base.LeaseNotFound):
        await s.time_to_live(lease.id)
    with pytest.raises(base.LeaseNotFound):
        await s.time_to_live(0x7FFF_0000_1234)  # never granted


async def test_reads_and_watch_events_name_the_lease(st):
    s, p = st
    lease = await s.grant(30)
    watch = s.watch(p, await s.revision() + 1, prev=False)
    try:
        await s.put(p + b"leased", b"1", lease=lease.id)
        await s.txn([], [base.Put(p + b"txn", b"2", lease=lease.id), base.Put(p + b"plain", b"3")])
        events = (await _next(watch)) + (await _next(watch))
        assert [(e.kv.key, e.kv.lease) for e in events] == [
            (p + b"leased", lease.id), (p + b"txn", lease.id), (p + b"plain", 0)]
        assert [(kv.key, kv.lease) for kv in (await s.range(p)).kvs] == [
            (p + b"leased", lease.id), (p + b"plain", 0), (p + b"txn", lease.id)]
    finally:
        await watch.aclose()
        await s.revoke(lease.id)
