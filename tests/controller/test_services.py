"""The Service controller against in-memory members and a memory Store (no sockets)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from fedns.controller import services, state
from fedns.controller import view as view_mod
from fedns.ipamstore import manager as ipam_manager
from fedns.members import member as member_mod
from fedns.records import apply as records_apply
from fedns.records import desired
from fedns.store import memory
from ipam import pool
from placement import topology


class Synced:
    def __init__(self) -> None:
        self.synced = asyncio.Event()
        self.synced.set()


class FakeMember:
    """What the Service controller reads and calls of a Member."""

    def __init__(self, name: str, zone: str) -> None:
        self.name = name
        self.spec = member_mod.MemberSpec(name=name, kubeconfig="")
        self.services: dict[str, dict[str, Any]] = {}
        self.endpointslices: dict[str, dict[str, Any]] = {}
        self.informers = {"Service": Synced()}
        self.ready = True
        self._zone = zone
        self.writes: list[tuple[str, str, list[str]]] = []
        self.events: list[str] = []

    def topology(self) -> topology.Location:
        return topology.Location(self.name, "", "r1", self._zone)

    def synced(self) -> bool:
        return True

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return {member_mod.NAME_LABEL: namespace}

    async def set_ingress(self, namespace: str, name: str, ips: list[str]) -> None:
        self.writes.append((namespace, name, ips))
        svc = self.services[f"{namespace}/{name}"]
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}

    async def record_event(self, service: dict[str, Any], reason: str, message: str,
                           type_: str = "Normal") -> None:
        self.events.append(reason)


def add_service(m: FakeMember, slices: state.SliceIndex, name: str, uid: str) -> None:
    m.services[f"default/{name}"] = {
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    eps = {"metadata": {"name": f"{name}-x", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": name}},
           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]}
    m.endpointslices[f"default/{name}-x"] = eps
    slices.update(m.name, f"default/{name}-x", eps, None)


@pytest.fixture
async def world():
    store = memory.MemoryStore("memory://")
    ipam = ipam_manager.IPAM(store, {"a": "a"})
    await ipam.start()
    await ipam.apply_pools([pool.from_dict({"name": "a-v4", "site": "a",
                                            "addresses": ["192.0.2.0/28"]})])
    m = FakeMember("a", "z1")
    view = view_mod.View({"a": m})
    slices = view.slices
    rec = services.ServiceController(store, "fed", "example.org", 30, view, ipam)
    try:
        yield rec, m, slices, store
    finally:
        await ipam.stop()


async def settle(rec: services.ServiceController) -> None:
    while rec._writing or rec._background:
        await asyncio.gather(*rec._writing.values(), *rec._background)


async def test_records_first_then_the_status_write_once_the_queue_is_idle(world):
    rec, m, slices, store = world
    idle = asyncio.Event()

    async def wait_idle(timeout: float) -> None:
        await asyncio.wait_for(idle.wait(), timeout)

    rec.wait_idle = wait_idle
    add_service(m, slices, "web", "u1")
    result = await rec.reconcile(("default", "web"))
    assert result.published == 1
    owned = await records_apply.owned_keys(store, desired.ServiceRef("fed", "default", "web"))
    assert any(k.endswith("/a/192-0-2-0") for k in owned), owned
    await asyncio.sleep(0)
    assert m.writes == [], "the status write waits while the queue is busy"
    idle.set()
    await settle(rec)
    assert m.writes == [("default", "web", ["192.0.2.0"])]
    assert m.events == ["IPAllocated"]


async def test_a_write_for_a_service_gone_meanwhile_is_skipped(world):
    rec, m, slices, _ = world
    idle = asyncio.Event()
    rec.wait_idle = lambda timeout: idle.wait()
    add_service(m, slices, "web", "u1")
    await rec.reconcile(("default", "web"))
    add_service(m, slices, "web", "u2")  # deleted and re-created while the write waited
    idle.set()
    await settle(rec)
    assert m.writes == [] and m.events == []


async def test_a_write_the_member_answers_404_is_not_retried(world):
    # deleted in the member before the informer saw it: the deletion's own event
    # reconciles it; retrying the write could only fail again
    rec, m, slices, _ = world
    rec.wait_idle = lambda timeout: asyncio.sleep(0)
    requeued = []
    rec.requeue = lambda key, delay: requeued.append(key)

    async def gone(namespace: str, name: str, ips: list[str]) -> None:
        raise member_mod.ObjectGone(f"status of service {namespace}/{name}: HTTP 404")

    m.set_ingress = gone  # type: ignore[method-assign]
    add_service(m, slices, "web", "u1")
    await rec.reconcile(("default", "web"))
    await settle(rec)
    assert requeued == [] and m.events == []
    m.set_ingress = lambda *args: _fail()  # type: ignore[method-assign]
    await rec.reconcile(("default", "web"))
    await settle(rec)
    assert requeued == [("default", "web")], "other failures are retried"


async def _fail() -> None:
    raise member_mod.MemberWriteError("HTTP 500")


async def test_events_are_said_once_and_forgotten_with_the_service(world):
    rec, m, slices, _ = world
    add_service(m, slices, "web", "u1")
    m.services["default/web"]["metadata"]["annotations"] = {
        "metallb.io/loadBalancerIPs": "203.0.113.9"}  # outside every pool
    for _ in range(3):
        await rec.reconcile(("default", "web"))
    await settle(rec)
    assert m.events == ["AllocationFailed"]
    assert rec._copies[("a", "default", "web")].reported is not None
    del m.services["default/web"]
    await rec.reconcile(("default", "web"))
    assert rec._copies == {}, "nothing kept for a Service that is gone"


async def test_a_status_write_s_own_event_is_an_echo_and_nothing_else_is(world):
    rec, m, slices, _ = world
    rec.wait_idle = lambda timeout: asyncio.sleep(0)
    add_service(m, slices, "web", "u1")
    before = copy.deepcopy(m.services["default/web"])
    await rec.reconcile(("default", "web"))
    await settle(rec)
    after = copy.deepcopy(m.services["default/web"])
    after["metadata"]["resourceVersion"] = "2"
    assert rec.is_echo("a", "default/web", after, before)
    other = copy.deepcopy(after)
    other["status"]["loadBalancer"]["ingress"] = [{"ip": "192.0.2.9"}]
    assert not rec.is_echo("a", "default/web", other, before), "someone else's status"
    respec = copy.deepcopy(after)
    respec["spec"]["ports"] = [{"port": 81}]
    assert not rec.is_echo("a", "default/web", respec, before), "a spec change"
    relabel = copy.deepcopy(after)
    relabel["metadata"]["annotations"] = {"x": "y"}
    assert not rec.is_echo("a", "default/web", relabel, before), "a metadata change"
    assert not rec.is_echo("a", "default/web", after, None), "a new object"
    m.spec = member_mod.MemberSpec(name="a", kubeconfig="", ipam="observe")
    assert not rec.is_echo("a", "default/web", after, before), \
        "an observed member's status is its input"
    m.spec = member_mod.MemberSpec(name="a", kubeconfig="")
    del m.services["default/web"]
    await rec.reconcile(("default", "web"))
    assert rec._copies == {}, "nothing kept for a Service that is gone"
    assert not rec.is_echo("a", "default/web", after, before)


def test_status_only_ignores_what_every_write_bumps():
    old = {"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [1]},
           "spec": {"type": "LoadBalancer"}}
    new = {"metadata": {"name": "a", "resourceVersion": "2", "managedFields": [2]},
           "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}
    assert state.status_only(old, new)
    assert not state.status_only(old, {**new, "spec": {"type": "ClusterIP"}})
    assert not state.status_only(old, {**new, "metadata": {"name": "a", "labels": {"x": "1"}}})
    assert not state.status_only(None, new) and not state.status_only(old, None)
