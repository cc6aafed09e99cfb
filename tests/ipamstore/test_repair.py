"""The repair pass, on memory:// and a real etcd: orphans go after a grace period,
status addresses are adopted when free and reported (never renumbered) when not."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from fedns.ipamstore import keys
from ipam import pool, request

SITE = {"m1": "umich", "m2": "umich"}
V4 = pool.Pool("v4", "umich", ("192.0.2.0/29",))


def req(service: str, member: str = "m1", **kw) -> request.Request:
    return request.Request(member, "default", service, uid=f"uid-{service}", **kw)


async def owners(st) -> dict[str, str]:
    return {kv.key.decode().removeprefix("/fedns/ipam/owners/"): keys.owner_from_json(
        kv.value).address.compressed for kv in (await st.range(keys.OWNERS)).kvs}


async def test_an_orphan_is_released_only_after_the_grace_period(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools([V4])
    await ipam.ensure(req("gone"))
    await ipam.ensure(req("alive"))
    live = {"m1": {("default", "alive", "uid-alive")}}
    first = await ipam.repair(live, grace=30, now=100)
    assert [a.service for a in first.waiting] == ["gone"] and first.released == []
    early = await ipam.repair(live, grace=30, now=129)
    assert early.released == []
    late = await ipam.repair(live, grace=30, now=130)
    assert [a.service for a in late.released] == ["gone"]
    assert await owners(ipam.store) == {"m1/uid-alive/ipv4": "192.0.2.1"}


async def test_an_owner_seen_again_restarts_its_grace(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools([V4])
    await ipam.ensure(req("flaky"))
    await ipam.repair({"m1": set()}, grace=30, now=0)
    await ipam.repair({"m1": {("default", "flaky", "uid-flaky")}}, grace=30, now=10)
    report = await ipam.repair({"m1": set()}, grace=30, now=35)
    assert report.released == [] and [a.service for a in report.waiting] == ["flaky"]


async def test_members_not_listed_or_unknown_to_a_callable_are_left_alone(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools([V4])
    await ipam.ensure(req("web", member="m2"))
    assert (await ipam.repair({"m1": set()}, grace=0)).released == []
    assert (await ipam.repair(lambda owner: None, grace=0)).released == []
    gone = await ipam.repair(lambda owner: owner[2] != "web", grace=0)
    assert [a.describe() for a in gone.released] == ["m2/default/web"]
    assert await owners(ipam.store) == {}


async def test_a_free_status_address_is_adopted(cluster):
    ipam = await cluster.replica(SITE)
    await ipam.apply_pools([V4])
    report = await ipam.repair({}, statuses=[(req("legacy"), ["192.0.2.6"])])
    assert [str(a.address) for a in report.adopted] == ["192.0.2.6"]
    assert report.conflicts == []
    assert await owners(ipam.store) == {"m1/uid-legacy/ipv4": "192.0.2.6"}
    again = await ipam.repair({}, statuses=[(req("legacy"), ["192.0.2.6"])])
    assert again.adopted == [] and again.conflicts == [], "already in the Store"


async def test_unadoptable_status_addresses_are_conflicts_never_renumbered(cluster):
    registry = CollectorRegistry()
    ipam = await cluster.replica(SITE, registry=registry)
    await ipam.apply_pools([V4])
    await ipam.ensure(req("owner"))  # 192.0.2.0
    await ipam.ensure(req("moved"))  # 192.0.2.1
    before = await owners(ipam.store)
    report = await ipam.repair({}, statuses=[
        (req("squatter"), ["192.0.2.0"]),
        (req("moved"), ["192.0.2.5"]),
        (req("outsider"), ["203.0.113.9"]),
        (req("garbled"), ["not-an-ip"]),
    ])
    assert [(c.owner[2], c.address, c.reason) for c in report.conflicts] == [
        ("squatter", "192.0.2.0", "requested_ip_taken"),
        ("moved", "192.0.2.5", "status_mismatch"),
        ("outsider", "203.0.113.9", "requested_ip_outside_pools"),
        ("garbled", "not-an-ip", "invalid_address"),
    ]
    assert report.adopted == []
    assert await owners(ipam.store) == before
    assert registry.get_sample_value("fedns_ipam_conflicts_total", {
        "site": "umich", "pool": "v4", "family": "IPv4", "kind": "status"}) == 2
