"""IPAM through the Store, on memory:// and a real etcd: allocation, idempotency,
release, sharing, replicas, and what the Store holds afterwards."""

from __future__ import annotations

import asyncio
import ipaddress
import json

import pytest
from prometheus_client import CollectorRegistry

from fedns.ipamstore import errors, keys
from ipam import allocator, pool, request
from tests.support import aio

SITE = {"m1": "umich", "m2": "umich", "x1": "msu"}


def pools(*mappings: dict) -> list[pool.Pool]:
    return pool.from_dicts(list(mappings))


V4 = {"name": "v4", "site": "umich", "addresses": ["192.0.2.0/29"]}


def req(service: str, uid: str | None = None, member: str = "m1", **kw) -> request.Request:
    return request.Request(member, "default", service, uid=uid or f"uid-{service}", **kw)


async def dump(st) -> dict[str, object]:
    """Every IPAM key with its decoded value."""
    return {kv.key.decode(): json.loads(kv.value)
            for kv in (await st.range(keys.PREFIX)).kvs}


def addrs_of(found: dict[str, object]) -> dict[str, list[str]]:
    """address key tail -> holder services."""
    return {k.removeprefix("/fedns/ipam/addrs/"): [h["service"] for h in v["holders"]]
            for k, v in found.items() if k.startswith("/fedns/ipam/addrs/")}


def owners_of(found: dict[str, object]) -> dict[str, str]:
    return {k.removeprefix("/fedns/ipam/owners/"): v["address"]
            for k, v in found.items() if k.startswith("/fedns/ipam/owners/")}


async def test_allocation_writes_the_address_and_owner_keys(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    decision = await ipam.ensure(req("web", ports=(("TCP", 80),)))
    assert decision.addresses() == ["192.0.2.0"]
    found = await dump(ipam.store)
    assert found["/fedns/ipam/addrs/v4/192.0.2.0"] == {
        "pool": "v4", "address": "192.0.2.0", "holders": [
            {"member": "m1", "namespace": "default", "service": "web", "uid": "uid-web",
             "sharingKey": "", "ports": [["TCP", 80]]}]}
    assert found["/fedns/ipam/owners/m1/uid-web/ipv4"] == {
        "pool": "v4", "address": "192.0.2.0", "namespace": "default", "service": "web",
        "uid": "uid-web"}
    record = found["/fedns/ipam/pools/v4"]
    assert (record["apiVersion"], record["kind"]) == ("fedns.io/v1alpha1", "IPPool")
    assert record["metadata"]["name"] == "v4" and record["metadata"]["uid"]
    assert {**record["spec"], "name": "v4"} == pool.to_dict(pools(V4)[0])


async def test_a_retried_request_gets_the_same_address_and_writes_nothing(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    first = await ipam.ensure(req("web"))
    revision = await ipam.store.revision()
    again = await ipam.ensure(req("web"))
    assert again.addresses() == first.addresses()
    assert again.assignments[0].kept
    assert await ipam.store.revision() == revision


async def test_lowest_free_addresses_in_order_then_exhausted(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools({**V4, "reserved": ["192.0.2.1"]}))
    got = [(await ipam.ensure(req(f"s{i}"))).addresses()[0] for i in range(7)]
    assert got == ["192.0.2.0", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5",
                   "192.0.2.6", "192.0.2.7"]
    refusal = await ipam.ensure(req("one-too-many"))
    assert isinstance(refusal, allocator.Refusal) and refusal.reason == "pool_exhausted"
    assert len(owners_of(await dump(ipam.store))) == 7


async def test_a_restart_never_changes_an_address(cluster):
    first = await cluster.replica(SITE)
    await first.apply_pools(pools(V4))
    before = {s: (await first.ensure(req(s))).addresses() for s in ("a", "b", "c")}
    await first.release("m1", "default", "b")
    await first.stop()
    second = await cluster.replica(SITE)  # loads from the Store alone
    after = {s: (await second.ensure(req(s))).addresses() for s in ("a", "c")}
    assert after == {"a": before["a"], "c": before["c"]}
    assert all(d.assignments[0].kept for d in [await second.ensure(req("a"))])


async def test_release_deletes_both_keys_and_keeps_the_recreated_uid(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    old = await ipam.ensure(req("web", uid="u1"))
    new = await ipam.ensure(req("web", uid="u2"))  # deleted and re-created meanwhile
    assert old.addresses() != new.addresses()
    released = await ipam.release("m1", "default", "web", keep_uid="u2")
    assert [(a.uid, str(a.address)) for a in released] == [("u1", old.addresses()[0])]
    found = await dump(ipam.store)
    assert owners_of(found) == {"m1/u2/ipv4": new.addresses()[0]}
    assert addrs_of(found) == {f"v4/{new.addresses()[0]}": ["web"]}
    assert [str(a.address) for a in await ipam.release("m1", "default", "web")] \
        == new.addresses()
    assert await dump(ipam.store) == {k: v for k, v in found.items()
                                      if "/addrs/" not in k and "/owners/" not in k}
    assert await ipam.release("m1", "default", "web") == []


async def test_sharing_one_key_holds_every_sharer_and_goes_with_the_last(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    dns_tcp = await ipam.ensure(req("dns-tcp", sharing_key="dns", ports=(("TCP", 53),)))
    dns_udp = await ipam.ensure(req("dns-udp", sharing_key="dns", ports=(("UDP", 53),)))
    assert dns_udp.addresses() == dns_tcp.addresses() and dns_udp.assignments[0].shared
    clash = await ipam.ensure(req("dns-more", sharing_key="dns", ports=(("UDP", 53),)))
    assert isinstance(clash, allocator.Refusal) and clash.reason == "sharing_incompatible"
    key = f"v4/{dns_tcp.addresses()[0]}"
    assert addrs_of(await dump(ipam.store)) == {key: ["dns-tcp", "dns-udp"]}
    await ipam.release("m1", "default", "dns-tcp")
    assert addrs_of(await dump(ipam.store)) == {key: ["dns-udp"]}
    other = await ipam.ensure(req("web"))
    assert other.addresses() != dns_tcp.addresses(), "a shared address is not free"
    await ipam.release("m1", "default", "dns-udp")
    assert addrs_of(await dump(ipam.store)) == {f"v4/{other.addresses()[0]}": ["web"]}


async def test_a_sharer_that_changes_its_ports_keeps_its_address_and_record(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    first = await ipam.ensure(req("a", sharing_key="k", ports=(("TCP", 80),)))
    await ipam.ensure(req("b", sharing_key="k", ports=(("TCP", 443),)))
    changed = await ipam.ensure(req("a", sharing_key="k", ports=(("TCP", 8080),)))
    assert changed.addresses() == first.addresses() and changed.assignments[0].kept
    record = (await dump(ipam.store))[f"/fedns/ipam/addrs/v4/{first.addresses()[0]}"]
    assert [(h["service"], h["ports"]) for h in record["holders"]] == [
        ("a", [["TCP", 8080]]), ("b", [["TCP", 443]])]
    now_free = await ipam.ensure(req("c", sharing_key="k", ports=(("TCP", 80),)))
    assert now_free.addresses() == first.addresses(), "port 80 is no longer used"


async def test_dual_stack_gets_one_owner_key_per_family(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4, {"name": "v6", "site": "umich",
                                      "addresses": ["2001:db8::/64"]}))
    decision = await ipam.ensure(req("web", ip_families=("IPv6", "IPv4"),
                                     ip_family_policy="RequireDualStack"))
    assert sorted(decision.addresses()) == ["192.0.2.0", "2001:db8::"]
    assert owners_of(await dump(ipam.store)) == {"m1/uid-web/ipv4": "192.0.2.0",
                                                 "m1/uid-web/ipv6": "2001:db8::"}
    assert [(u.pool, u.capacity, u.used) for u in ipam.usage()] == [
        ("v4", 8, 1), ("v6", 18446744073709551616, 1)]


async def test_requested_address_and_moving_to_another(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    svc = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
           "spec": {"type": "LoadBalancer", "loadBalancerIP": "192.0.2.5"}}
    assert (await ipam.ensure(request.from_service("m1", svc))).addresses() == ["192.0.2.5"]
    taken = await ipam.ensure(req("other", requested_ips=("192.0.2.5",)))
    assert isinstance(taken, allocator.Refusal) and taken.reason == "requested_ip_taken"
    svc["spec"]["loadBalancerIP"] = "192.0.2.6"
    moved = await ipam.ensure(request.from_service("m1", svc))
    assert moved.addresses() == ["192.0.2.6"]
    assert [str(a.address) for a in moved.release] == ["192.0.2.5"]
    found = await dump(ipam.store)
    assert addrs_of(found) == {"v4/192.0.2.6": ["web"]}
    assert owners_of(found) == {"m1/u1/ipv4": "192.0.2.6"}


async def test_members_draw_from_their_own_site(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4, {"name": "msu", "site": "msu",
                                      "addresses": ["192.0.2.0/29"]}))
    a = await ipam.ensure(req("web", member="m1"))
    b = await ipam.ensure(req("web", member="x1"))
    assert (a.assignments[0].pool, b.assignments[0].pool) == ("v4", "msu")
    assert a.addresses() == b.addresses() == ["192.0.2.0"], "sites are separate domains"
    nowhere = await ipam.ensure(req("web", member="lonely"))  # its own site: no pool
    assert isinstance(nowhere, allocator.Refusal) and nowhere.reason == "no_pool"


async def test_a_replica_learns_other_replicas_allocations_from_the_watch(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    await a.apply_pools(pools(V4))
    await aio.until(lambda: b.pools(), what="pool seen by b")
    await a.ensure(req("web"))
    await aio.until(lambda: len(b.allocations()) == 1, what="allocation seen by b")
    assert (await b.ensure(req("api"))).addresses() == ["192.0.2.1"]
    assert (await b.ensure(req("web"))).assignments[0].kept


async def test_a_stale_replica_loses_the_race_and_takes_the_next_address(cluster):
    registries = [CollectorRegistry(), CollectorRegistry()]
    a = await cluster.replica(SITE, registry=registries[0])
    b = await cluster.replica(SITE, registry=registries[1])
    await a.apply_pools(pools(V4))
    await aio.until(lambda: b.pools(), what="pool seen by b")
    first, second = await asyncio.gather(a.ensure(req("web")), b.ensure(req("api")))
    assert sorted(first.addresses() + second.addresses()) == ["192.0.2.0", "192.0.2.1"]
    lost = sum(r.get_sample_value("fedns_ipam_conflicts_total", {
        "site": "umich", "pool": "v4", "family": "IPv4", "kind": "txn"}) or 0
        for r in registries)
    assert lost == 1
    assert sorted(addrs_of(await dump(a.store))) == ["v4/192.0.2.0", "v4/192.0.2.1"]


async def test_two_replicas_serving_one_service_agree_on_one_address(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    await a.apply_pools(pools(V4))
    await aio.until(lambda: b.pools(), what="pool seen by b")
    for i in range(5):
        one, two = await asyncio.gather(a.ensure(req(f"s{i}")), b.ensure(req(f"s{i}")))
        assert one.addresses() == two.addresses()
    found = await dump(a.store)
    assert sorted(owners_of(found).values()) == [f"192.0.2.{i}" for i in range(5)]
    assert all(len(h) == 1 for h in addrs_of(found).values())


async def test_a_stale_replica_never_gives_a_served_service_a_second_address(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    await a.apply_pools(pools(V4))
    await a.ensure(req("gone"))  # 192.0.2.0
    await aio.until(lambda: len(b.allocations()) == 1, what="b sees gone")
    await a.release("m1", "default", "gone")
    served = await a.ensure(req("web"))  # 192.0.2.0 again, b may not know yet ...
    again = await b.ensure(req("web"))  # ... and would pick 192.0.2.1 but for the owner key
    assert again.addresses() == served.addresses() == ["192.0.2.0"]
    assert owners_of(await dump(a.store)) == {"m1/uid-web/ipv4": "192.0.2.0"}
    assert list(addrs_of(await dump(a.store))) == ["v4/192.0.2.0"]


async def test_a_move_always_leaves_the_address_the_owner_key_names(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await ipam.ensure(req("web"))  # 192.0.2.0
    ipam.state.ledger_of("umich").remove(ipam.allocations()[0])  # a ledger gone stale
    moved = allocator.Decision((allocator.Assignment(4, "v4", ipaddress.ip_address(
        "192.0.2.3")),))
    plan = ipam._plan(req("web"), moved)
    old = keys.addr_key("v4", ipaddress.ip_address("192.0.2.0"))
    assert plan.writes[old] is None and old in plan.compare
    assert await ipam.commit(plan)
    found = await dump(ipam.store)
    assert addrs_of(found) == {"v4/192.0.2.3": ["web"]}
    assert owners_of(found) == {"m1/uid-web/ipv4": "192.0.2.3"}


async def test_cooldown_passes_over_a_just_released_address(cluster):
    ipam = await cluster.replica(SITE, cooldown=3600)
    await ipam.apply_pools(pools(V4))
    await ipam.ensure(req("a"))
    await ipam.release("m1", "default", "a")
    assert (await ipam.ensure(req("b"))).addresses() == ["192.0.2.1"]


async def test_a_pool_lock_holds_allocations_back(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await ipam.store.put(keys.lock_key("v4"), keys.lock_to_json("someone", "test"))
    await aio.until(lambda: "v4" in ipam.state.locks, what="lock seen")
    with pytest.raises(errors.PoolBusy):
        await ipam.ensure(req("web"))
    with pytest.raises(errors.PoolBusy):
        await ipam.apply_pools(pools({**V4, "addresses": ["192.0.2.0/30"]}))
    await ipam.store.delete(keys.lock_key("v4"))
    await aio.until(lambda: "v4" not in ipam.state.locks, what="lock gone")
    assert (await ipam.ensure(req("web"))).addresses() == ["192.0.2.0"]


async def test_a_replica_that_has_not_seen_a_lock_is_stopped_by_the_store(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await ipam.store.put(keys.lock_key("v4"), keys.lock_to_json("editor", "test"))
    with pytest.raises(errors.PoolBusy):  # the txn reads the lock back
        await ipam.ensure(req("web"))
    assert addrs_of(await dump(ipam.store)) == {}


async def test_a_compacted_watch_relists(cluster):
    a = await cluster.replica(SITE)
    b = await cluster.replica(SITE)
    await a.apply_pools(pools(V4))
    await aio.until(lambda: b.pools(), what="pool seen by b")
    b._watcher.cancel()  # b falls behind ...
    with pytest.raises(asyncio.CancelledError):
        await b._watcher
    await a.ensure(req("web"))
    await a.store.compact(await a.store.revision())  # ... past the compaction point
    b._watcher = asyncio.create_task(b._watch())
    await aio.until(lambda: len(b.allocations()) == 1, what="b relisted")
    assert (await b.ensure(req("api"))).addresses() == ["192.0.2.1"]


async def test_metrics_count_addresses_and_decisions(cluster):
    registry = CollectorRegistry()
    ipam = await cluster.replica(SITE, registry=registry)
    await ipam.apply_pools(pools(V4, {"name": "v6", "site": "umich",
                                      "addresses": ["2001:db8::/64"]}))
    await ipam.ensure(req("web"))
    await ipam.ensure(req("web"))
    await ipam.ensure(req("ghost", pool="nope"))

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    v4 = {"site": "umich", "pool": "v4", "family": "IPv4"}
    assert value("fedns_ipam_addresses_total", **v4) == 8
    assert value("fedns_ipam_addresses_in_use", **v4) == 1
    assert value("fedns_ipam_addresses_total", site="umich", pool="v6",
                 family="IPv6") == 2.0 ** 64
    assert value("fedns_ipam_allocations_total", **v4, result="allocated") == 1
    assert value("fedns_ipam_allocations_total", **v4, result="kept") == 1
    assert value("fedns_ipam_allocations_total", site="umich", pool="", family="",
                 result="no_pool") == 1
    assert value("fedns_ipam_allocate_duration_seconds_count", site="umich") == 3


async def test_use_before_start_is_refused(cluster):
    from fedns.ipamstore import manager

    ipam = manager.IPAM(await cluster.open(), SITE, registry=CollectorRegistry())
    with pytest.raises(errors.NotStarted):
        await ipam.ensure(req("web"))


async def test_a_kept_decision_is_remembered_until_what_it_read_changes(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools(pools(V4))
    await ipam.ensure(req("web"))  # allocates: written, not remembered
    decided: list[str] = []
    real = ipam.state.decide
    ipam.state.decide = lambda r, now: decided.append(r.service) or real(r, now)
    for _ in range(3):
        kept = await ipam.ensure(req("web"))
        assert kept.addresses() == ["192.0.2.0"] and kept.assignments[0].kept
    assert decided == ["web"], "decided once, then remembered"
    web81 = req("web", ports=(("TCP", 81),))
    await ipam.ensure(web81)  # another request: decided (and its record rewritten)
    await ipam.ensure(web81)  # decided: kept, nothing written, so remembered
    await ipam.ensure(web81)
    assert decided == ["web", "web", "web"]
    await ipam.apply_pools(pools({**V4, "addresses": ["192.0.2.0/28"]}))  # a pool edit
    await ipam.ensure(web81)
    assert decided == ["web", "web", "web", "web"]
    await ipam.ensure(req("api"))  # a new holder of another address: not read by web's
    await ipam.ensure(web81)
    assert decided == ["web", "web", "web", "web", "api"]
    await ipam.release("m1", "default", "web")
    assert not any(owner[2] == "web" for owner in ipam._kept), "forgotten with the address"
    again = await ipam.ensure(web81)
    assert not again.assignments[0].kept and decided[-1] == "web"


async def test_a_remembered_decision_follows_another_replica_s_move(cluster):
    one = await cluster.replica(SITE)
    two = await cluster.replica(SITE)
    await one.apply_pools(pools(V4))
    await one.ensure(req("web"))
    await one.ensure(req("web"))  # remembered on one
    await aio.until(lambda: two.allocations(), what="two sees the allocation")
    await two.ensure(req("web", requested_ips=("192.0.2.5",)))  # two moves it
    await aio.until(lambda: [str(a.address) for a in one.allocations()] == ["192.0.2.5"],
                         what="one sees the move")
    back = await one.ensure(req("web"))  # the remembered answer is stale: decided anew
    assert back.addresses() == ["192.0.2.5"], "keeps where it is, not where it was"
