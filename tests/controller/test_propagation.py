"""The propagation controller against in-memory members and the endpoint's kapi storage
over a memory Store (no sockets): copies, conflicts, unreachable members, deletion
through the finalizer, orphaning, and status summed back."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest

from fedns import templates
from fedns.controller import endpointrs, propagation
from fedns.kapi import registry, storage
from fedns.members import kinds as member_kinds
from fedns.members import member as member_mod
from fedns.store import memory
from propagate import manifest

DEPLOY = ("apps/Deployment", "default", "web")


class Cache:
    def __init__(self) -> None:
        self.cache: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self.synced.set()


class Probe:
    last_error = ""


class FakeMember:
    """What the propagation controller reads and calls of a Member: caches per kind,
    apply and delete writing straight into them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = True
        self.probe = Probe()
        self.caches: dict[str, Cache] = {}
        self.applies = 0
        self.selectors: dict[str, str] = {}
        self.cache("Namespace").cache.update({"default": {"metadata": {"name": "default"}}})

    def cache(self, kind: str) -> Cache:
        return self.caches.setdefault(kind, Cache())

    async def follow(self, resource: member_kinds.Resource, *, label_selector: str = "") -> Cache:
        if label_selector == endpointrs.SELECTOR:  # the Deployments' own ReplicaSets
            return self.cache("ReplicaSet made by Deployments")
        self.selectors[resource.kind] = label_selector
        return self.cache(resource.kind)

    @staticmethod
    def _key(obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]

    async def apply(self, obj: dict[str, Any], *, resource: member_kinds.Resource,
                    adopt: bool = False, checked: bool = False) -> dict[str, Any]:
        if not self.ready:
            raise member_mod.MemberWriteError(f"member {self.name!r}: connection refused")
        cache = self.cache(resource.kind).cache
        key = self._key(obj)
        if key in cache and not manifest.is_managed(cache[key]) and not adopt:
            raise member_mod.NotManaged(f"member {self.name!r}: not managed")
        stored = copy.deepcopy(obj)
        stored["metadata"]["uid"] = f"{self.name}-uid"
        stored["metadata"]["generation"] = 1
        self.applies += 1
        cache[key] = stored
        return stored

    async def delete(self, resource: member_kinds.Resource, namespace: str, name: str) -> bool:
        if not self.ready:
            raise member_mod.MemberWriteError(f"member {self.name!r}: connection refused")
        key = f"{namespace}/{name}" if namespace else name
        return self.cache(resource.kind).cache.pop(key, None) is not None


@pytest.fixture
async def world():
    store = memory.MemoryStore("memory://")
    kinds = templates.kinds()
    st = storage.Storage(store, registry.Registry(kinds))
    await templates.seed(st)
    members = {n: FakeMember(n) for n in ("east", "north", "west")}
    ctl = propagation.PropagationController(st, members, templates.propagated(kinds))
    await ctl.setup()
    yield ctl, st, members


def kind(st: storage.Storage, group: str, plural: str) -> registry.Kind:
    found = next(k for k in st.registry.kinds() if (k.group, k.plural) == (group, plural))
    return found


def deployment(replicas: int = 6, **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


async def converge(ctl: propagation.PropagationController, key: tuple[str, str, str],
                   rounds: int = 4) -> None:
    for _ in range(rounds):
        await ctl.reconcile(key)
    await ctl.settle()


def copies(members: dict[str, FakeMember], kind_: str = "Deployment",
           key: str = "default/web") -> dict[str, dict[str, Any] | None]:
    return {n: m.cache(kind_).cache.get(key) for n, m in members.items()}


async def test_a_deployment_is_divided_and_applied_once(world):
    ctl, st, members = world
    deploys = kind(st, "apps", "deployments")
    await st.create(deploys, "default", deployment(6))
    await converge(ctl, DEPLOY)
    assert {n: c["spec"]["replicas"] for n, c in copies(members).items()} == \
        {"east": 2, "north": 2, "west": 2}
    assert all(m.applies == 1 for m in members.values()), "unchanged templates cost no write"
    template = await st.get(deploys, "default", "web")
    assert propagation.FINALIZER in template["metadata"]["finalizers"]
    report = json.loads(template["metadata"]["annotations"][manifest.MEMBERS])
    assert report == {n: {"state": "Applied"} for n in members}
    events = await st.list(kind(st, "", "events"), "default")
    # one Event per state: the three members' copies in one
    assert sorted((e["reason"], e["message"]) for e in events.items) == [
        ("Placed", "placed east=2,north=2,west=2 by default"),
        ("Propagated", "members east, north, west: applied")]


async def test_an_autoscalers_bounds_are_divided(world):
    ctl, st, members = world
    hpas = kind(st, "autoscaling", "horizontalpodautoscalers")
    await st.create(hpas, "default", {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minReplicas": 2, "maxReplicas": 10, "scaleTargetRef": {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}})
    await converge(ctl, ("autoscaling/HorizontalPodAutoscaler", "default", "web"))
    bounds = sorted((c["spec"]["minReplicas"], c["spec"]["maxReplicas"])
                    for c in copies(members, "HorizontalPodAutoscaler").values())
    assert bounds == [(1, 3), (1, 3), (1, 4)]


async def test_a_bad_share_is_reported_not_retried(world):
    ctl, st, members = world
    hpas = kind(st, "autoscaling", "horizontalpodautoscalers")
    await st.create(hpas, "default", {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"minReplicas": -1, "maxReplicas": 3}})
    result = await ctl.reconcile(("autoscaling/HorizontalPodAutoscaler", "default", "bad"))
    assert result.requeue_after == 0
    report = json.loads((await st.get(hpas, "default", "bad"))["metadata"]["annotations"][
        manifest.MEMBERS])
    assert {o["state"] for o in report.values()} == {"Error"}
    assert report["east"]["message"] == "spec.minReplicas: must be a non-negative integer, got -1"
    assert all(c is None for c in copies(members, "HorizontalPodAutoscaler", "default/bad")
               .values())


async def test_status_is_summed_and_observed_generation_waits_for_every_member(world):
    ctl, st, members = world
    deploys = kind(st, "apps", "deployments")
    await st.create(deploys, "default", deployment(6))
    await converge(ctl, DEPLOY)
    for name in ("east", "north"):
        live = members[name].cache("Deployment").cache["default/web"]
        live["status"] = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2}
    await ctl.reconcile(DEPLOY)
    status = (await st.get(deploys, "default", "web"))["status"]
    assert status == {"replicas": 4, "readyReplicas": 4}, "west has not observed it yet"
    members["west"].cache("Deployment").cache["default/web"]["status"] = {
        "observedGeneration": 1, "replicas": 2, "readyReplicas": 2}
    await ctl.reconcile(DEPLOY)
    status = (await st.get(deploys, "default", "web"))["status"]
    assert status == {"replicas": 6, "readyReplicas": 6, "observedGeneration": 1}


async def test_an_unmanaged_object_is_a_conflict_unless_adopted(world):
    ctl, st, members = world
    deploys = kind(st, "apps", "deployments")
    mine = copy.deepcopy(deployment(1))
    members["north"].cache("Deployment").cache["default/web"] = mine
    await st.create(deploys, "default", deployment(6))
    await converge(ctl, DEPLOY)
    assert members["north"].cache("Deployment").cache["default/web"] is mine
    template = await st.get(deploys, "default", "web")
    report = json.loads(template["metadata"]["annotations"][manifest.MEMBERS])
    assert report["north"]["state"] == "Conflict" and report["east"]["state"] == "Applied"
    warnings = [e for e in (await st.list(kind(st, "", "events"), "default")).items
                if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["PropagationConflict"]

    template["metadata"]["annotations"][manifest.ADOPT] = "true"
    await st.update(deploys, "default", "web", template)
    await converge(ctl, DEPLOY)
    assert manifest.is_copy(members["north"].cache("Deployment").cache["default/web"])


async def test_an_unreachable_member_waits_and_keeps_its_copy(world):
    ctl, st, members = world
    deploys = kind(st, "apps", "deployments")
    await st.create(deploys, "default", deployment(6))
    await converge(ctl, DEPLOY)
    members["west"].ready = False
    template = await st.get(deploys, "default", "web")
    template["spec"]["replicas"] = 9
    await st.update(deploys, "default", "web", template)
    await converge(ctl, DEPLOY)
    # within its toleration west keeps its 2 and gets none of the 3 new ones
    got = {n: c["spec"]["replicas"] for n, c in copies(members).items()}
    assert got["west"] == 2 and sorted([got["east"], got["north"]]) == [3, 4]
    report = json.loads((await st.get(deploys, "default", "web"))["metadata"]["annotations"][
        manifest.MEMBERS])
    assert report["west"]["state"] == "Unreachable"

    # deleting waits for it: the template stays Terminating, west's copy stays
    await st.delete(deploys, "default", "web")
    await converge(ctl, DEPLOY)
    assert copies(members) == {"east": None, "north": None,
                               "west": members["west"].cache("Deployment").cache["default/web"]}
    assert (await st.get(deploys, "default", "web"))["metadata"]["deletionTimestamp"]
    # it answers again: its health event brings the key back, and it catches up
    members["west"].ready = True
    assert DEPLOY in set(ctl.map(propagation.runtime.HealthEvent("west", True)))
    await converge(ctl, DEPLOY)
    assert copies(members) == {"east": None, "north": None, "west": None}
    assert not (await st.list(deploys, "default")).items


async def test_orphan_keeps_the_copies_marked(world):
    ctl, st, members = world
    deploys = kind(st, "apps", "deployments")
    await st.create(deploys, "default", deployment(3, **{manifest.ORPHAN: "true"}))
    await converge(ctl, DEPLOY)
    await st.delete(deploys, "default", "web")
    await converge(ctl, DEPLOY)
    assert not (await st.list(deploys, "default")).items
    left = copies(members)
    assert all(c is not None and manifest.notes_of(c)[manifest.ORPHANED] == "true"
               for c in left.values())


async def test_namespaces_first_and_helm_releases_stay(world):
    ctl, st, members = world
    namespaces, secrets = kind(st, "", "namespaces"), kind(st, "", "secrets")
    await st.create(namespaces, "", {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": "team"}})
    await st.create(secrets, "team", {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                      "metadata": {"name": "cfg"}, "data": {"a": "Yg=="}})
    await st.create(secrets, "team", {"apiVersion": "v1", "kind": "Secret",
                                      "type": "helm.sh/release.v1",
                                      "metadata": {"name": "sh.helm.release.v1.web.v1"}})
    secret_key = ("Secret", "team", "cfg")
    result = await ctl.reconcile(secret_key)
    assert result.requeue_after > 0 and copies(members, "Secret", "team/cfg")["east"] is None
    await converge(ctl, ("Namespace", "", "team"))
    assert all(manifest.is_copy(c) for c in copies(members, "Namespace", "team").values())
    assert ("Namespace", "", "team") not in set(ctl.map(propagation.runtime.MemberEvent(
        "east", "Namespace", "default", {"metadata": {"name": "default"}}, None)))
    await converge(ctl, secret_key)
    assert all(manifest.is_copy(c) for c in copies(members, "Secret", "team/cfg").values())
    await converge(ctl, ("Secret", "team", "sh.helm.release.v1.web.v1"))
    assert all(c is None for c in
               copies(members, "Secret", "team/sh.helm.release.v1.web.v1").values())
    # the default namespace is every cluster's own
    await converge(ctl, ("Namespace", "", "default"))
    assert not manifest.is_copy(members["east"].cache("Namespace").cache["default"])
    # a deleted Namespace (no finalizer holds it) takes its copies with it
    await st.delete(namespaces, "", "team")
    await converge(ctl, secret_key)
    await converge(ctl, ("Namespace", "", "team"))
    assert all(c is None for c in copies(members, "Namespace", "team").values())


async def test_members_are_followed_for_what_fedns_manages(world):
    _, _, members = world
    assert members["east"].selectors["Service"] == ""
    assert members["east"].selectors["Namespace"] == ""
    assert members["east"].selectors["Secret"] == "app.kubernetes.io/managed-by=fedns"
    assert "Event" not in members["east"].selectors


async def test_store_and_member_events_map_to_keys(world):
    ctl, st, _ = world
    prefix = st.collection_key(kind(st, "apps", "deployments"))
    event = propagation.runtime.StoreEvent(prefix, prefix + b"default/web", b"{}", 5)
    assert list(ctl.map(event)) == [DEPLOY]
    unrelated = propagation.runtime.MemberEvent("east", "Deployment", "default/other",
                                                {"metadata": {"name": "other"}}, None)
    assert list(ctl.map(unrelated)) == []
    assert list(ctl.map(propagation.runtime.MemberEvent(
        "east", "Deployment", "default/web", None, {"metadata": {}}))) == [DEPLOY]
    await st.create(kind(st, "apps", "deployments"), "default", deployment(2))
    assert DEPLOY in await ctl.keys()


async def test_the_endpoint_keeps_a_replicaset_per_deployment(world):
    """What Helm 3's --wait reads: owned by the template, its template, the members'
    current ReplicaSets summed; never copied; gone with the Deployment."""
    ctl, st, members = world
    deploys, sets = kind(st, "apps", "deployments"), kind(st, "apps", "replicasets")
    await st.create(deploys, "default", deployment(6))
    await converge(ctl, DEPLOY)
    template = await st.get(deploys, "default", "web")
    (rs,) = (await st.list(sets, "default")).items
    assert rs["metadata"]["name"].startswith("web-")
    assert rs["metadata"]["ownerReferences"][0]["uid"] == template["metadata"]["uid"]
    assert rs["status"]["readyReplicas"] == 0
    for name, m in members.items():  # each member's Deployment controller made its own
        copy_ = m.cache("Deployment").cache["default/web"]
        pod_template = copy.deepcopy(copy_["spec"]["template"])
        pod_template["metadata"]["labels"]["pod-template-hash"] = "x"
        m.cache("ReplicaSet made by Deployments").cache["default/web-x"] = {
            "kind": "ReplicaSet", "metadata": {"name": "web-x", "namespace": "default",
                                               "ownerReferences": [{
                                                   "kind": "Deployment", "name": "web",
                                                   "uid": f"{name}-uid", "controller": True}]},
            "spec": {"template": pod_template},
            "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}}
    for name, m in members.items():  # as each member's informer reports it
        event = propagation.runtime.MemberEvent(
            name, "ReplicaSet", "default/web-x",
            m.cache("ReplicaSet made by Deployments").cache["default/web-x"], None)
        assert list(ctl.map(event)) == [DEPLOY], \
            "a member's ReplicaSet brings its Deployment back"
    await converge(ctl, DEPLOY, rounds=1)
    (rs,) = (await st.list(sets, "default")).items
    assert rs["status"]["readyReplicas"] == 6 and rs["status"]["availableReplicas"] == 6
    rs_key = ("apps/ReplicaSet", "default", rs["metadata"]["name"])
    await converge(ctl, rs_key)
    assert all("default/" + rs["metadata"]["name"] not in m.cache("ReplicaSet").cache
               for m in members.values()), "never propagated"
    await st.delete(deploys, "default", "web")
    await converge(ctl, DEPLOY)
    assert (await st.list(sets, "default")).items == []


async def test_once_listed_the_endpoint_replicasets_are_read_from_memory(world, monkeypatch):
    """After the leader's full list the endpoint's ReplicaSets come from what the
    Store's watch and the controller's own writes showed, not a range read each."""
    ctl, st, members = world
    deploys, sets = kind(st, "apps", "deployments"), kind(st, "apps", "replicasets")
    await ctl.keys()
    assert ctl.replica_sets.synced

    async def no_reads(namespace, name):
        raise AssertionError("read the Store")
    monkeypatch.setattr(ctl.replica_sets, "_named_after", no_reads)
    await st.create(deploys, "default", deployment(6))
    await converge(ctl, DEPLOY)
    (first,) = (await st.list(sets, "default")).items
    template = await st.get(deploys, "default", "web")
    template["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    await st.update(deploys, "default", "web", template)
    await converge(ctl, DEPLOY)
    (second,) = (await st.list(sets, "default")).items
    assert second["metadata"]["name"] != first["metadata"]["name"], "a new pod template hash"
    # what the watch shows later (its own create, the old one's delete) is no news
    ctl.replica_sets.saw("default", first["metadata"]["name"],
                         int(first["metadata"]["resourceVersion"]), first)
    assert [o["metadata"]["name"] for _, o in
            ctl.replica_sets.kept[("default", "web")].values()] == [second["metadata"]["name"]]
