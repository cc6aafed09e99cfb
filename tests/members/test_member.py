"""Member access against simulated members over real sockets (HTTPS with a token)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from fedns.members import kinds, member
from placement import topology
from tests.members.conftest import EVENTS, SERVICES, SLICES, lb_service
from tests.support import aio


@contextlib.asynccontextmanager
async def running(path: str, name: str, events: list | None = None,
                  **kw) -> AsyncIterator[member.Member]:
    """A started Member for one context of the sim's kubeconfig, stopped afterwards."""
    m = connect(path, name, events, **kw)
    await m.start()
    try:
        yield m
    finally:
        await m.stop()


def connect(path: str, name: str, events: list | None = None, **kw) -> member.Member:
    spec = member.MemberSpec(name=name, kubeconfig=path, context=name)
    on_change = (lambda kind, key, obj, old: events.append((kind, key, obj is None))) \
        if events is not None else None
    return member.Member(spec, on_change=on_change, probe_interval=0.1, **kw)


async def services_in(sim_member) -> dict[str, str]:
    objs = (await sim_member.server.storage.list(SERVICES, "")).items
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for o in objs}


def cached(m: member.Member) -> dict[str, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in m.services.items()}


async def test_informer_sees_5000_services_and_the_cache_matches(sim):
    sims, path = sim
    async with running(path, "umich") as m:
        await aio.until(m.synced, 10, "initial sync")
        storage = sims[0].server.storage
        for i in range(5000):
            await storage.create(SERVICES, "default", lb_service(f"svc-{i:04d}"))
        expected = await services_in(sims[0])
        assert len(expected) == 5001  # plus the seeded kubernetes Service
        await aio.until(lambda: cached(m) == expected, 30, "cache equal to the member")


async def test_changes_arrive_as_keys_and_deletes_are_delivered(sim):
    sims, path = sim
    events: list = []
    async with running(path, "umich", events) as m:
        await aio.until(m.synced, 10, "initial sync")
        storage = sims[0].server.storage
        await storage.create(SERVICES, "default", lb_service("web"))
        await storage.create(SLICES, "default", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"],
                                                  "conditions": {"ready": True}}]})
        await storage.delete(SERVICES, "default", "web")
        await aio.until(lambda: ("umich/Service", "default/web", True) in events, 5, "delete seen")
        assert ("umich/Service", "default/web", False) in events
        assert ("umich/EndpointSlice", "default/web-1", False) in events
        assert "default/web-1" in m.endpointslices and "default/web" not in m.services


async def test_watch_resumes_after_the_member_restarts(sim):
    sims, path = sim
    async with running(path, "umich") as m:
        await aio.until(m.synced, 10, "initial sync")
        storage = sims[0].server.storage
        await storage.create(SERVICES, "default", lb_service("before"))
        await aio.until(lambda: "default/before" in m.services, 5, "before seen")
        await sims[0].stop()
        await sims[0].start()  # same port, same state
        storage = sims[0].server.storage
        await storage.create(SERVICES, "default", lb_service("after"))
        expected = await services_in(sims[0])
        await aio.until(lambda: cached(m) == expected, 15, "cache caught up after restart")


async def test_compaction_forces_a_relist_and_the_cache_ends_equal(sim):
    sims, path = sim
    events: list = []
    async with running(path, "umich", events) as m:
        await aio.until(m.synced, 10, "initial sync")
        storage = sims[0].server.storage
        for name in ("a", "b", "c"):
            await storage.create(SERVICES, "default", lb_service(name))
        await aio.until(lambda: {"default/a", "default/b", "default/c"} <= m.services.keys(),
                        5, "services seen")
        relists = m.informers["Service"].relists
        await sims[0].stop()  # the informer loses its watch
        await sims[0].start()
        storage = sims[0].server.storage
        await storage.delete(SERVICES, "default", "b")  # missed while away...
        await storage.create(SERVICES, "default", lb_service("d"))
        await sims[0].store.compact(await sims[0].store.revision())  # ...and compacted away
        await sims[0].stop()
        await sims[0].start()
        expected = await services_in(sims[0])
        await aio.until(lambda: cached(m) == expected, 20, "cache equal after relist")
        assert m.informers["Service"].relists > relists
        assert ("umich/Service", "default/b", True) in events, "the missed delete is delivered"


async def test_health_goes_notready_after_damping_and_back(sim):
    sims, path = sim
    flips: list[tuple[str, bool]] = []
    async with running(path, "ucsd", on_health=lambda name, ready: flips.append((name, ready))) as m:
        await aio.until(lambda: m.ready, 5, "ready")
        await sims[1].stop()
        probes = m.probe.probes
        await aio.until(lambda: not m.ready, 10, "NotReady after the damping window")
        assert m.probe.probes - probes >= 3, "3 failures are needed to go down"
        assert m.probe.last_error
        await sims[1].start()
        await aio.until(lambda: m.ready, 10, "Ready again after restart")
        assert flips == [("ucsd", True), ("ucsd", False), ("ucsd", True)]


async def test_topology_from_config_else_node_labels(sim):
    _sims, path = sim
    async with running(path, "ucsd") as m:
        await aio.until(m.synced, 10, "initial sync")
        assert m.topology() == topology.Location("ucsd", "ucsd", "us-west", "us-west-2")
    with pytest.raises(topology.TopologyUnknown, match="Nodes disagree: a, b"):
        topology.resolve("x", [
            {"metadata": {"labels": {"topology.kubernetes.io/region": "a"}}},
            {"metadata": {"labels": {"failure-domain.beta.kubernetes.io/region": "b"}}}])
    with pytest.raises(topology.TopologyUnknown, match="no Node has the label"):
        topology.resolve("x", [], region="r")
    assert topology.resolve("x", [], region="r", zone="z") == topology.Location("x", "x", "r", "z")


def test_bad_kubeconfig_is_one_line(tmp_path):
    spec = member.MemberSpec(name="x", kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(member.MemberConfigError, match=r"^member 'x': kubeconfig"):
        member.Member(spec)


async def test_a_transform_trims_what_the_cache_keeps_from_list_and_watch(sim):
    sims, path = sim
    storage = sims[0].server.storage

    def event(name: str) -> dict:
        return {"metadata": {"name": name, "namespace": "default"}, "reason": "R",
                "message": "m" * 1000, "involvedObject": {"kind": "Pod", "name": "p"}}

    def short(obj: dict) -> dict:
        return {"metadata": obj["metadata"], "reason": obj["reason"]}

    seen: list = []
    await storage.create(EVENTS, "default", event("listed"))
    async with running(path, "umich") as m:
        inf = await m.follow(kinds.EVENT, transform=short,
                             on_change=lambda s, key, obj, old: seen.append((key, obj)))
        await aio.until(inf.synced.is_set, 10, "the Events listed")
        await storage.create(EVENTS, "default", event("watched"))
        await aio.until(lambda: "default/watched" in inf.cache, 10, "the watched Event")
        assert {k: sorted(o) for k, o in inf.cache.items()} == {
            "default/listed": ["metadata", "reason"], "default/watched": ["metadata", "reason"]}
        assert all("message" not in obj for _, obj in seen)
