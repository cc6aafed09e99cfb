"""apply/withdraw against the memory Store: the end state is the keys in the Store."""

from __future__ import annotations

import json

import pytest

from fedns import store as store_mod
from fedns.records import apply, desired
from placement import topology

REF = desired.ServiceRef("myfed", "default", "hello")
TOPOLOGY = [topology.Location("umich", "umich", "mw", "a"),
            topology.Location("ucsd", "ucsd", "west", "c")]
INDEX = b"/fedns/owners/records/myfed/default/hello"


@pytest.fixture
async def store():
    s = await store_mod.open_store("memory://")
    try:
        yield s
    finally:
        await s.close()


def records(*states):
    return desired.records(REF, "example.com", TOPOLOGY, states)


async def dump(store) -> dict[str, str]:
    result = await store.range(b"")
    return {kv.key.decode(): kv.value.decode() for kv in result.kvs}


UMICH = desired.MemberState("umich", ("192.0.2.10",), True)
UCSD = desired.MemberState("ucsd", ("203.0.113.7",), True)


async def test_apply_writes_records_and_index(store):
    want = records(UMICH, UCSD)
    changes = await apply.apply(store, REF, want)
    assert set(changes.create) == set(want)
    got = await dump(store)
    index = json.loads(got.pop(INDEX.decode()))
    assert got == want
    assert index == sorted(want)


async def test_apply_is_idempotent(store):
    await apply.apply(store, REF, records(UMICH, UCSD))
    revision = await store.revision()
    changes = await apply.apply(store, REF, records(UMICH, UCSD))
    assert changes.empty() and await store.revision() == revision


async def test_apply_moves_to_new_state_in_one_revision(store):
    await apply.apply(store, REF, records(UMICH, UCSD))
    revision = await store.revision()
    unhealthy = desired.MemberState("ucsd", ("203.0.113.7",), False)
    await apply.apply(store, REF, records(UMICH, unhealthy))
    assert await store.revision() == revision + 1  # one txn
    got = await dump(store)
    got.pop(INDEX.decode())
    assert got == records(UMICH, unhealthy)


async def test_foreign_keys_are_never_touched(store):
    foreign = "/skydns/com/example/svc/myfed/default/hello/umich/192-0-2-10"
    other = "/skydns/com/example/other/x"
    await store.put(foreign.encode(), b'{"host":"10.0.0.1"}')
    await store.put(other.encode(), b'{"host":"10.0.0.2"}')
    changes = await apply.apply(store, REF, records(UMICH))
    assert changes.conflicts == (foreign,)
    got = await dump(store)
    assert got[foreign] == '{"host":"10.0.0.1"}' and got[other] == '{"host":"10.0.0.2"}'
    assert foreign not in json.loads(got[INDEX.decode()])
    await apply.withdraw(store, REF)
    assert await dump(store) == {foreign: '{"host":"10.0.0.1"}', other: '{"host":"10.0.0.2"}'}


async def test_withdraw_removes_everything_fedns_wrote(store):
    await store.put(b"/skydns/com/example/keep", b'{"host":"10.0.0.2"}')
    await apply.apply(store, REF, records(UMICH, UCSD))
    await apply.withdraw(store, REF)
    assert await dump(store) == {"/skydns/com/example/keep": '{"host":"10.0.0.2"}'}
    assert await apply.owned_keys(store, REF) == []


async def test_key_written_by_another_writer_between_read_and_write_is_not_overwritten(store):
    # A writer that sneaks in after our read makes our guarded txn fail; the re-read
    # then sees the key as foreign and reports a conflict instead of overwriting it.
    want = records(UMICH)
    sneaky = min(want)
    real_txn = store.txn
    done = False

    async def txn(compare, success=(), failure=()):
        nonlocal done
        if success and any(hasattr(op, "value") for op in success) and not done:
            done = True
            await store.put(sneaky.encode(), b'{"host":"10.9.9.9"}')
        return await real_txn(compare, success, failure)

    store.txn = txn
    changes = await apply.apply(store, REF, want)
    assert changes.conflicts == (sneaky,)
    assert (await dump(store))[sneaky] == '{"host":"10.9.9.9"}'


async def test_concurrent_writers_do_not_interleave(store):
    import asyncio

    a = records(UMICH)
    b = records(UMICH, UCSD)
    await asyncio.gather(apply.apply(store, REF, a), apply.apply(store, REF, b),
                         apply.apply(store, REF, a))
    got = await dump(store)
    index = json.loads(got.pop(INDEX.decode()))
    assert got in (a, b) and index == sorted(got)


async def test_bad_index_is_reported(store):
    await store.put(INDEX, b"not json")
    with pytest.raises(apply.BadOwnerIndex):
        await apply.apply(store, REF, records(UMICH))


def count_txns(store) -> list[int]:
    """Counts the Store round trips (txns) from now on: the list's length."""
    calls: list[int] = []
    real_txn = store.txn

    async def txn(compare, success=(), failure=()):
        calls.append(1)
        return await real_txn(compare, success, failure)

    store.txn = txn
    return calls


async def test_with_a_known_view_a_repeat_costs_nothing_and_a_change_one_txn(store):
    known = apply.Known()
    await apply.apply(store, REF, records(UMICH), known)
    calls = count_txns(store)
    assert (await apply.apply(store, REF, records(UMICH), known)).empty()
    assert calls == [], "planned against the view: no round trip"
    await apply.apply(store, REF, records(UMICH, UCSD), known)
    assert len(calls) == 1, "the write alone, no read before it"
    got = await dump(store)
    assert json.loads(got.pop(INDEX.decode())) == sorted(records(UMICH, UCSD))
    assert got == records(UMICH, UCSD)
    await apply.apply(store, REF, {}, known)
    assert await dump(store) == {} and len(known) == 0, "a withdrawn service is not kept"


async def test_a_stale_view_never_clobbers_another_writer(store):
    known = apply.Known()
    await apply.apply(store, REF, records(UMICH, UCSD), known)
    calls = count_txns(store)
    tampered = min(k for k in records(UMICH) if k not in records(UCSD))
    await store.put(tampered.encode(), b'{"host":"10.9.9.9"}')  # behind the view's back
    await apply.apply(store, REF, records(UCSD), known)  # deletes it: the compare fails
    # the stale write refused; a read of the desired keys and one of the owned keys
    # no longer desired; the write again
    assert len(calls) == 4
    got = await dump(store)
    assert json.loads(got.pop(INDEX.decode())) == sorted(records(UCSD))
    assert got == records(UCSD)
    more = desired.MemberState("umich", ("192.0.2.11",), True)
    foreign = sorted(k for k in records(UCSD, more) if k not in got)[0]
    await store.put(foreign.encode(), b'{"host":"10.9.9.9"}')  # a key we are about to want
    changes = await apply.apply(store, REF, records(UCSD, more), known)
    assert foreign in changes.conflicts
    assert (await dump(store))[foreign] == '{"host":"10.9.9.9"}', "never overwritten"


async def test_a_cleared_view_reads_again(store):
    known = apply.Known()
    await apply.apply(store, REF, records(UMICH), known)
    await store.delete(min(records(UMICH)).encode())  # lost behind the view's back
    known.clear()
    calls = count_txns(store)
    await apply.apply(store, REF, records(UMICH), known)
    assert len(calls) == 2, "read, then the write that restores it"
    got = await dump(store)
    got.pop(INDEX.decode())
    assert got == records(UMICH)


async def test_a_write_whose_outcome_is_unknown_is_read_next_time(store):
    known = apply.Known()
    await apply.apply(store, REF, records(UMICH), known)
    real_txn = store.txn

    async def lost_ack(compare, success=(), failure=()):
        await real_txn(compare, success, failure)  # lands, but the answer is lost
        raise store_mod.base.Unavailable("etcd went away")

    store.txn = lost_ack
    with pytest.raises(store_mod.base.Unavailable):
        await apply.apply(store, REF, records(UMICH, UCSD), known)
    store.txn = real_txn
    await apply.apply(store, REF, records(UMICH), known)  # back to what the view held
    got = await dump(store)
    got.pop(INDEX.decode())
    assert got == records(UMICH), "the view was not trusted after the lost answer"
