"""Random concurrent operations from two replicas on one Store (hypothesis): whatever
the interleaving, the Store's keys stay consistent and both mirrors converge to them.

Invariants, read from the Store itself: every address record has holders, and more
than one only when they share (same member and key, no common port); every holder
has the owner key that names its address and every owner key is a holder; no owner
holds two addresses of one family; every address is one its pool hands out.
"""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from fedns import store
from fedns.ipamstore import keys, manager
from ipam import pool, request
from tests.support import aio

POOLS = [pool.Pool("v4", "s", ("10.0.0.0/29",), reserved=("10.0.0.1",)),
         pool.Pool("v6", "s", ("2001:db8::/125",))]
SITES = {"m1": "s", "m2": "s"}

requests = st.builds(
    lambda member, svc, ask, key, port, dual: request.Request(
        member, "ns", f"svc{svc}", uid=f"u{svc}",
        requested_ips=(ask,) if ask else (),
        sharing_key=key, ports=(("TCP", port),),
        ip_families=("IPv4", "IPv6") if dual and not ask else ("IPv4",),
        ip_family_policy="RequireDualStack" if dual and not ask else "SingleStack"),
    member=st.sampled_from(["m1", "m1", "m2"]), svc=st.integers(0, 3),
    ask=st.sampled_from(["", "", "10.0.0.3", "10.0.0.1", "10.0.0.9"]),
    key=st.sampled_from(["", "", "k"]), port=st.sampled_from([80, 443]),
    dual=st.booleans())
operations = st.tuples(st.sampled_from(["ensure", "ensure", "release"]),
                       st.integers(0, 1), requests)
batches = st.lists(st.lists(operations, min_size=1, max_size=4), min_size=1, max_size=8)


async def check(st_: store.base.Store) -> list[tuple]:
    kvs = (await st_.range(keys.PREFIX)).kvs
    by_pool = {p.name: p for p in POOLS}
    holders, owners = {}, {}
    for kv in kvs:
        parsed = keys.parse_key(kv.key)
        if parsed.kind == "addr":
            found = keys.addr_from_json(parsed.pool, parsed.address, kv.value)
            assert found, f"{kv.key} has no holder"
            assert by_pool[parsed.pool].contains(parsed.address.version,
                                                  int(parsed.address))
            if len(found) > 1:
                assert len({(h.member, h.sharing_key) for h in found}) == 1, found
                assert found[0].sharing_key, found
                ports = [p for h in found for p in h.ports]
                assert len(ports) == len(set(ports)), found
            for h in found:
                slot = (h.member, h.uid, h.family)
                assert slot not in holders, f"{slot} holds two addresses"
                holders[slot] = (h.pool, str(h.address))
        elif parsed.kind == "owner":
            record = json.loads(kv.value)
            owners[(parsed.member, parsed.owner, parsed.family)] = (record["pool"],
                                                                    record["address"])
    assert holders == owners
    return sorted(holders.items())


async def scenario(plan: list[list[tuple]]) -> None:
    st_ = await store.open_store("memory://")
    replicas = [manager.IPAM(st_, SITES, registry=CollectorRegistry()) for _ in range(2)]
    for r in replicas:
        await r.start()
    try:
        await replicas[0].apply_pools(POOLS)
        await aio.until(lambda: all(r.pools() for r in replicas), what="pools everywhere")
        for batch in plan:
            await asyncio.gather(*(
                replicas[i].ensure(req) if op == "ensure"
                else replicas[i].release(req.member, req.namespace, req.service)
                for op, i, req in batch))
        truth = await check(st_)
        for r in replicas:
            await aio.until(lambda r=r: sorted(
                ((a.member, a.uid, a.family), (a.pool, str(a.address)))
                for a in r.allocations()) == truth, what="mirror converged")
            assert sum(u.used for u in r.usage()) == len({a for _, a in truth})
    finally:
        for r in replicas:
            await r.stop()
        await st_.close()


def _svc(i: int) -> request.Request:
    return request.Request("m1", "ns", f"svc{i}", uid=f"u{i}", ports=(("TCP", 80),))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
# Replica 1 still sees svc0 on the lowest address that replica 0 has just given svc1.
@example([[("ensure", 0, _svc(0))],
          [("release", 0, _svc(0)), ("ensure", 0, _svc(1)), ("ensure", 1, _svc(1))]])
def test_two_replicas_keep_the_store_consistent(plan):
    asyncio.run(scenario(plan))
