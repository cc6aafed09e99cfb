"""Pool edits through the Store, on memory:// and a real etcd: widening, refused
shrinks and deletes that name the holders, draining, overlap, all or nothing."""

from __future__ import annotations

import asyncio
import json

import pytest

from fedns.ipamstore import errors, keys, manager
from fedns.store import memory
from ipam import allocator, pool, request
from ipam import errors as ipam_errors
from tests.support import aio

SITE = {"m1": "umich"}
V4 = {"name": "v4", "site": "umich", "addresses": ["192.0.2.0/30"]}


def pools(*mappings: dict) -> list[pool.Pool]:
    return pool.from_dicts(list(mappings))


def req(service: str, **kw) -> request.Request:
    return request.Request("m1", "default", service, uid=f"uid-{service}", **kw)


async def snapshot(st) -> dict[bytes, tuple[bytes, int]]:
    return {kv.key: (kv.value, kv.mod_revision) for kv in (await st.range(keys.PREFIX)).kvs}


async def full(ipam) -> list[str]:
    return [(await ipam.ensure(req(f"s{i}"))).addresses()[0] for i in range(4)]


async def test_widening_adds_free_space_and_keeps_every_address(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    held = await full(ipam)
    assert (await ipam.ensure(req("more"))).reason == "pool_exhausted"
    changed = await ipam.apply_pools(pools({**V4, "addresses": ["192.0.2.0/29"]}))
    assert [p.name for p in changed] == ["v4"]
    assert [(u.capacity, u.used, u.free) for u in ipam.usage()] == [(8, 4, 4)]
    assert (await ipam.ensure(req("more"))).addresses() == ["192.0.2.4"]
    assert await full(ipam) == held


async def test_applying_the_same_pools_changes_nothing(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    before = await snapshot(ipam.store)
    assert await ipam.apply_pools(pools(V4)) == []
    assert await snapshot(ipam.store) == before


@pytest.mark.parametrize("edit", [
    {"addresses": ["192.0.2.0/31"]},
    {"reserved": ["192.0.2.2"]},
    {"site": "elsewhere"},
], ids=["shrink", "reserve", "other-site"])
async def test_a_change_that_strands_live_addresses_is_refused_naming_holders(cluster, edit):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await full(ipam)
    before = await snapshot(ipam.store)
    with pytest.raises(ipam_errors.PoolInUse) as refused:
        await ipam.apply_pools(pools({**V4, **edit}))
    assert "192.0.2.2 held by m1/default/s2" in str(refused.value)
    assert "drain the pool first" in str(refused.value)
    assert await snapshot(ipam.store) == before, "refused: nothing written"
    assert not ipam.state.locks, "the edit's lock is gone"


async def test_shrinking_the_free_part_is_allowed(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools({**V4, "addresses": ["192.0.2.0/29"]}))
    await ipam.ensure(req("web"))
    await ipam.apply_pools(pools({**V4, "addresses": ["192.0.2.0/31"]}))
    assert [(u.capacity, u.used) for u in ipam.usage()] == [(2, 1)]


async def test_drain_then_shrink_moves_holders_on_their_next_ensure(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4, {"name": "zz", "site": "umich",
                                      "addresses": ["198.51.100.0/30"]}))
    held = await full(ipam)
    await ipam.drain("v4")
    refused = await ipam.ensure(req("web", pool="v4"))
    assert isinstance(refused, allocator.Refusal) and refused.reason == "pool_draining"
    assert await full(ipam) == held, "draining keeps every holder's address"
    await ipam.apply_pools(pools({**V4, "addresses": ["192.0.2.0/31"], "draining": True},
                                 {"name": "zz", "site": "umich",
                                  "addresses": ["198.51.100.0/30"]}))
    assert [str(a.address) for a in ipam.allocations("v4")] == held, "stranded, not lost"
    moved = await ipam.ensure(req("s3"))
    assert moved.addresses() == ["198.51.100.0"]
    assert [str(a.address) for a in moved.release] == ["192.0.2.3"]


async def test_delete_is_refused_while_the_pool_holds_addresses(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await ipam.ensure(req("web"))
    with pytest.raises(ipam_errors.PoolInUse, match="192.0.2.0 held by m1/default/web"):
        await ipam.delete_pool("v4")
    await ipam.release("m1", "default", "web")
    await ipam.delete_pool("v4")
    assert ipam.pools() == []
    assert (await ipam.store.get(keys.pool_key("v4"))) is None
    with pytest.raises(errors.PoolNotFound):
        await ipam.delete_pool("v4")


async def test_a_drained_pool_may_be_deleted_under_its_holders(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await ipam.ensure(req("web"))
    await ipam.drain("v4")
    await ipam.delete_pool("v4")
    assert [a.service for a in ipam.allocations()] == ["web"], "records stay until moved"
    assert (await ipam.ensure(req("web"))).reason == "no_pool"


async def test_overlap_within_a_site_is_refused_all_or_nothing(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    before = await snapshot(ipam.store)
    with pytest.raises(ipam_errors.PoolOverlap, match='"v4" and "z" of site "umich"'):
        await ipam.apply_pools(pools({"name": "fine", "site": "umich",
                                      "addresses": ["203.0.113.0/24"]},
                                     {"name": "z", "site": "umich",
                                      "addresses": ["192.0.2.2-192.0.2.9"]}))
    assert await snapshot(ipam.store) == before
    await ipam.apply_pools(pools({"name": "z", "site": "msu",
                                  "addresses": ["192.0.2.0/30"]}))  # other site: fine
    assert [p.name for p in ipam.pools()] == ["v4", "z"]


async def test_concurrent_overlapping_edits_from_two_replicas_cannot_both_win(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    one = pools({"name": "one", "site": "umich", "addresses": ["10.0.0.0/24"]})
    two = pools({"name": "two", "site": "umich", "addresses": ["10.0.0.128/25"]})
    results = await asyncio.gather(a.apply_pools(one), b.apply_pools(two),
                                   return_exceptions=True)
    overlaps = [r for r in results if isinstance(r, ipam_errors.PoolOverlap)]
    assert len(overlaps) == 1, results
    names = sorted(kv.key for kv in (await a.store.range(keys.POOLS)).kvs)
    assert len(names) == 1


async def test_drain_invalidates_a_stale_replicas_decision(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    await a.apply_pools(pools(V4))
    await aio.until(lambda: b.pools(), what="pool seen by b")
    await a.drain("v4")
    refused = await b.ensure(req("web"))  # b may not have seen the drain yet
    assert isinstance(refused, allocator.Refusal) and refused.reason == "pool_draining"
    assert a.allocations() == []


async def test_show_the_pool_spec_round_trip(cluster):
    ipam = await cluster.replica(SITE)
    spec = {"name": "full", "site": "umich", "addresses": ["192.0.2.0/24", "2001:db8::/64"],
            "reserved": ["192.0.2.1"], "avoidBuggyIPs": True, "autoAssign": False,
            "priority": 3, "namespaceSelector": {"matchLabels": {"team": "a"}}}
    await ipam.apply_pools(pools(spec))
    stored = await ipam.store.get(keys.pool_key("full"))
    assert keys.pool_from_json(stored.value) == pools(spec)[0]
    assert [(u.family_name, u.capacity) for u in ipam.usage()] == [
        ("IPv4", 253), ("IPv6", 2 ** 64)]


async def test_a_shrink_racing_allocations_never_strands_an_address(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    wide = {**V4, "addresses": ["192.0.2.0/29"]}
    await a.apply_pools(pools(wide))
    await aio.until(lambda: b.pools(), what="pool seen by b")
    for i in range(4):
        await a.ensure(req(f"low{i}"))  # 192.0.2.0-3: the shrink keeps these

    async def allocate() -> list:
        results = []
        for i in range(4):
            try:
                results.append(await a.ensure(req(f"high{i}")))
            except errors.PoolBusy as busy:
                results.append(busy)
        return results

    async def shrink():
        try:
            return await b.apply_pools(pools(V4))  # 192.0.2.0/30
        except (ipam_errors.PoolInUse, errors.PoolBusy) as refused:
            return refused

    _, outcome = await asyncio.gather(allocate(), shrink())
    found = (await a.store.range(keys.POOLS)).kvs
    current = keys.pool_from_json(found[0].value)
    held = [kv for kv in (await a.store.range(keys.ADDRS)).kvs]
    for kv in held:
        parsed = keys.parse_key(kv.key)
        assert current.contains(4, int(parsed.address)), (outcome, parsed.address)
    assert not (await a.store.range(keys.LOCKS)).kvs, "no lock left behind"


async def test_a_record_of_the_older_form_is_read_and_upgraded_once():
    store = memory.MemoryStore("memory://")
    legacy = {"name": "old", "site": "s", "addresses": ["192.0.2.0/28"]}
    await store.put(keys.pool_key("old"), json.dumps(legacy).encode())
    ipam = manager.IPAM(store, {})
    await ipam.start()
    try:
        assert [p.name for p in ipam.pools()] == ["old"]
        assert await ipam.upgrade_pool_records() == ["old"]
        record = json.loads((await store.get(keys.pool_key("old"))).value)
        assert record["kind"] == "IPPool" and record["metadata"]["name"] == "old"
        assert record["spec"]["addresses"] == ["192.0.2.0/28"]
        assert await ipam.upgrade_pool_records() == [], "once"
    finally:
        await ipam.stop()
