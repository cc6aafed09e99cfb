"""Site: applying decisions and releases keeps index and ledger consistent."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipam import allocator, errors, ledger, pool, request, site


def P(name, *addresses, **fields):
    return pool.from_dict({"name": name, "site": "umich", "addresses": list(addresses),
                           **fields})


def R(service, **fields):
    return request.Request("m1", "default", service, f"uid-{service}", **fields)


def run(state, req, now=None, cooldown=0.0):
    decision = state.allocate(req, now=now, cooldown=cooldown)
    assert isinstance(decision, allocator.Decision), decision
    state.apply(decision, req, now=now)
    return decision.addresses()


def test_sequence_of_services_gets_successive_addresses_and_reuses_released():
    state = site.Site([P("p", "192.0.2.0/30")])
    assert [run(state, R(f"s{i}")) for i in range(4)] == [
        ["192.0.2.0"], ["192.0.2.1"], ["192.0.2.2"], ["192.0.2.3"]]
    assert isinstance(state.allocate(R("s4")), allocator.Refusal)
    released = state.release(R("s1").owner)
    assert [str(a.address) for a in released] == ["192.0.2.1"]
    assert run(state, R("s4")) == ["192.0.2.1"]
    assert state.usage() == {"p": {"capacity": 4, "used": 4, "free": 0}}


def test_reconcile_twice_is_idempotent():
    state = site.Site([P("p", "192.0.2.0/30")])
    first = run(state, R("web"))
    assert run(state, R("web")) == first
    assert len(state.held) == 1 and state.usage()["p"]["used"] == 1


def test_shared_address_is_freed_only_when_the_last_sharer_leaves():
    state = site.Site([P("p", "192.0.2.0/30")])
    a = R("dns-udp", sharing_key="dns", ports=(("UDP", 53),))
    b = R("dns-tcp", sharing_key="dns", ports=(("TCP", 53),))
    assert run(state, a) == run(state, b) == ["192.0.2.0"]
    assert state.usage()["p"]["used"] == 1
    state.release(a.owner)
    assert state.usage()["p"]["used"] == 1
    state.release(b.owner)
    assert state.usage()["p"]["used"] == 0


def test_cooldown_holds_back_a_released_address():
    state = site.Site([P("p", "192.0.2.0/29")])
    run(state, R("a"), now=0.0)
    state.release(R("a").owner, now=10.0)
    assert run(state, R("b"), now=20.0, cooldown=60.0) == ["192.0.2.1"]
    assert run(state, R("c"), now=80.0, cooldown=60.0) == ["192.0.2.0"]


def test_moving_an_owner_releases_its_old_address():
    state = site.Site([P("p", "192.0.2.0/30")])
    run(state, R("web"))
    assert run(state, R("web", requested_ips=("192.0.2.3",))) == ["192.0.2.3"]
    assert [str(a.address) for a in state.held] == ["192.0.2.3"]
    assert state.indexes["p"].is_free("192.0.2.0")


def test_stale_decision_is_refused_on_apply():
    state = site.Site([P("p", "192.0.2.0/30")])
    decision = state.allocate(R("a"))
    run(state, R("b"))  # takes the same address first
    with pytest.raises(errors.AddressNotFree):
        state.apply(decision, R("a"))


def test_pools_never_shrink_under_live_addresses():
    state = site.Site([P("p", "192.0.2.0/29")])
    run(state, R("a"))
    run(state, R("b"))
    with pytest.raises(errors.PoolInUse) as caught:
        state.with_pools([P("p", "192.0.2.0/31", reserved=["192.0.2.1"])])
    assert str(caught.value) == 'pool "p": the change would strand 192.0.2.1 held by m1/default/b'
    with pytest.raises(errors.PoolInUse, match="and 1 more$"):
        state.with_pools([])
    grown = state.with_pools([P("p", "192.0.2.0/28")])
    assert grown.usage()["p"] == {"capacity": 16, "used": 2, "free": 14}


def test_recorded_allocation_outside_its_pool_is_refused():
    with pytest.raises(errors.AddressNotInPool):
        site.Site([P("p", "192.0.2.0/30")],
                  [ledger.Allocation("m1", "default", "x", "u", "p", "192.0.2.9")])


def test_owner_holds_one_address_per_family():
    held = ledger.Ledger([ledger.Allocation("m1", "d", "x", "u", "p", "192.0.2.1")])
    with pytest.raises(errors.AllocationConflict):
        held.add(ledger.Allocation("m1", "d", "x", "u", "p", "192.0.2.2"))
    with pytest.raises(errors.AllocationConflict):
        held.remove(ledger.Allocation("m1", "d", "x", "u", "p", "192.0.2.2"))


SERVICES = [f"s{i}" for i in range(8)]
operations = st.lists(st.one_of(
    st.tuples(st.just("allocate"), st.sampled_from(SERVICES),
              st.sampled_from(["", "k1", "k2"]),
              st.sampled_from([(("TCP", 80),), (("TCP", 443),), (("UDP", 53),)]),
              st.sampled_from([(), ("192.0.2.2",), ("2001:db8::1",)]),
              st.sampled_from(["SingleStack", "PreferDualStack", "RequireDualStack"])),
    st.tuples(st.just("release"), st.sampled_from(SERVICES))), max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops=operations)
def test_random_service_churn_keeps_every_invariant(ops):
    pools = [P("a", "192.0.2.0/29", reserved=["192.0.2.1"]), P("b", "2001:db8::/126"),
             P("c", "198.51.100.0/30", autoAssign=False)]
    state = site.Site(pools)
    by_name = {p.name: p for p in pools}
    now = 0.0
    for op in ops:
        now += 1.0
        if op[0] == "release":
            state.release(("m1", "default", op[1], f"uid-{op[1]}"), now=now)
            continue
        _, name, key, ports, ips, policy = op
        families = ("IPv6",) if ips == ("2001:db8::1",) and policy == "SingleStack" else ("IPv4",)
        req = R(name, sharing_key=key, ports=ports, requested_ips=ips,
                ip_family_policy=policy, ip_families=families)
        outcome = state.allocate(req, now=now, cooldown=3.0)
        if isinstance(outcome, allocator.Decision):
            state.apply(outcome, req, now=now)
    users = defaultdict(list)
    for a in state.held:
        assert by_name[a.pool].contains(a.family, int(a.address))
        users[a.address].append(a)
    for addr, holders in users.items():
        if len(holders) > 1:  # shared: one member, one key, no common port
            assert len({(h.member, h.sharing_key) for h in holders}) == 1
            assert holders[0].sharing_key
            ports = [p for h in holders for p in h.ports]
            assert len(ports) == len(set(ports))
        assert not state.indexes[holders[0].pool].is_free(addr)
    keys = defaultdict(set)
    for a in state.held:
        if a.sharing_key:
            keys[(a.member, a.sharing_key, a.family)].add(a.address)
    assert all(len(addrs) == 1 for addrs in keys.values())
    for name, free in state.indexes.items():
        assert free.used == len({a.address for a in state.held if a.pool == name})
