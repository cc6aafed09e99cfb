"""Placement in the propagation controller, against in-memory members, the endpoint's
kapi storage over a memory Store and a fake clock: Placements and Federation v1
annotations choose members and divide replicas, scaling is sticky, a failed member's
replicas move after the toleration and its old copy goes only once the replacements are
ready, capacity from Unschedulable Pods, and the policies' status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from fedns import kinds as fedns_kinds
from fedns import placements, templates
from fedns.controller import metrics, placestatus, placing, propagation, runtime
from fedns.kapi import registry, storage
from fedns.kapi import status as kapi_status
from fedns.store import memory
from tests.controller.test_propagation import FakeMember, copies, deployment, kind

DEPLOY = ("apps/Deployment", "default", "web")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def world():
    store = memory.MemoryStore("memory://")
    kinds = templates.kinds()
    st = storage.Storage(store, registry.Registry(
        [*kinds, fedns_kinds.MEMBERS, *placements.KINDS]))
    await templates.seed(st)
    members = {n: FakeMember(n) for n in ("east", "north", "west")}
    clock = Clock()
    ctl_metrics = metrics.ControllerMetrics(CollectorRegistry())
    ctl = propagation.PropagationController(
        st, members, templates.propagated(kinds),
        placer=placing.Placer(st, members, clock=clock), metrics=ctl_metrics)
    await ctl.setup()
    yield ctl, st, members, clock, ctl_metrics


def placement_obj(name: str = "web", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    spec.setdefault("resourceSelectors", [{"apiVersion": "apps/v1", "kind": "Deployment"}])
    return {"apiVersion": "fedns.io/v1alpha1", "kind": "Placement",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


async def converge(ctl: propagation.PropagationController, rounds: int = 4
                   ) -> runtime.Result:
    result = runtime.Result()
    for _ in range(rounds):
        result = await ctl.reconcile(DEPLOY)
    return result


def replicas(members: dict[str, FakeMember]) -> dict[str, int]:
    return {n: c["spec"]["replicas"] for n, c in copies(members).items() if c is not None}


async def decision(st: storage.Storage) -> dict[str, Any]:
    template = await st.get(kind(st, "apps", "deployments"), "default", "web")
    found: dict[str, Any] = json.loads(template["metadata"]["annotations"][placing.ANNOTATION])
    return found


def mark_ready(members: dict[str, FakeMember], *names: str) -> None:
    """What a member's Deployment controller would report: every replica ready."""
    for name in names:
        live = members[name].cache("Deployment").cache["default/web"]
        live["status"] = {"observedGeneration": 1, "replicas": live["spec"]["replicas"],
                          "readyReplicas": live["spec"]["replicas"]}


WEIGHTED = {"members": [{"names": ["east", "north"]}],
            "division": {"type": "Divided", "weights": {"east": 2, "north": 1}},
            "failover": {"tolerationSeconds": 2}}


async def test_weights_divide_and_scaling_up_moves_nothing(world):
    ctl, st, members, _, _ = world
    await st.create(placements.PLACEMENTS, "default", placement_obj(**WEIGHTED))
    deploys = kind(st, "apps", "deployments")
    await st.create(deploys, "default", deployment(6))
    await converge(ctl)
    assert replicas(members) == {"east": 4, "north": 2}
    assert (await decision(st))["source"] == "placement/default/web"
    template = await st.get(deploys, "default", "web")
    template["spec"]["replicas"] = 9
    await st.update(deploys, "default", "web", template)
    await converge(ctl)
    assert replicas(members) == {"east": 6, "north": 3}
    reasons = [e["reason"] for e in (await st.list(kind(st, "", "events"), "default")).items]
    assert reasons.count("Placed") == 2, "each changed decision is an Event"


async def test_a_failed_member_fails_over_and_its_copy_goes_when_replaced(world):
    ctl, st, members, clock, ctl_metrics = world
    await st.create(placements.PLACEMENTS, "default", placement_obj(**WEIGHTED))
    await st.create(kind(st, "apps", "deployments"), "default", deployment(6))
    await converge(ctl)
    members["east"].ready = False
    ctl.map(runtime.HealthEvent("east", False))
    result = await converge(ctl)
    assert replicas(members) == {"east": 4, "north": 2}, "within the toleration: kept"
    assert 0 < result.requeue_after <= 2.0, "looked at again when the toleration ends"

    clock.now += 2.5
    await converge(ctl)
    assert replicas(members) == {"east": 4, "north": 6}, "east's old copy stays while down"
    d = await decision(st)
    assert d["replicas"] == {"north": 6} and d["withdrawing"] == {"east": 4}
    assert d["failedOver"] == ["east"]
    assert ctl_metrics.placement_decisions.labels("failover")._value.get() == 1

    members["east"].ready = True  # back, but north's replicas are not ready yet
    ctl.map(runtime.HealthEvent("east", True))
    await converge(ctl)
    assert "east" in replicas(members)
    mark_ready(members, "north")
    await converge(ctl)
    assert replicas(members) == {"north": 6}, "no move back without rebalanceOnRecovery"
    assert (await decision(st))["withdrawing"] == {}
    assert ctl_metrics.placement_evictions._value.get() == 1


async def test_recovery_moves_back_with_rebalance_on_recovery(world):
    ctl, st, members, clock, _ = world
    spec = {**WEIGHTED, "failover": {"tolerationSeconds": 2, "rebalanceOnRecovery": True}}
    await st.create(placements.PLACEMENTS, "default", placement_obj(**spec))
    await st.create(kind(st, "apps", "deployments"), "default", deployment(6))
    await converge(ctl)
    members["east"].ready = False
    await converge(ctl)
    clock.now += 3
    await converge(ctl)
    members["east"].ready = True
    await converge(ctl)
    assert replicas(members) == {"east": 4, "north": 2}


async def test_nothing_fits_nothing_is_evicted_and_the_template_says_why(world):
    ctl, st, members, clock, _ = world
    spec = {"members": [{"names": ["east"]}], "failover": {"tolerationSeconds": 1},
            "division": {"type": "Divided"}}
    await st.create(placements.PLACEMENTS, "default", placement_obj(**spec))
    await st.create(kind(st, "apps", "deployments"), "default", deployment(3))
    await converge(ctl)
    members["east"].ready = False
    await converge(ctl)
    clock.now += 5
    await converge(ctl)
    assert replicas(members) == {"east": 3}
    d = await decision(st)
    assert d["replicas"] == {"east": 3} and "no member group fits" in d["reason"]
    warnings = [e for e in (await st.list(kind(st, "", "events"), "default")).items
                if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["PlacementConstrained"]


async def test_member_labels_select_members(world):
    ctl, st, members, _, _ = world
    for name, env in (("east", "prod"), ("north", "lab"), ("west", "prod")):
        await st.create(fedns_kinds.MEMBERS, "", {
            "apiVersion": "fedns.io/v1alpha1", "kind": "Member",
            "metadata": {"name": name, "labels": {"env": env}}, "spec": {}})
    spec = {"members": [{"labelSelector": {"matchLabels": {"env": "prod"}}}]}
    await st.create(placements.PLACEMENTS, "default", placement_obj(**spec))
    await st.create(kind(st, "apps", "deployments"), "default", deployment(2))
    await converge(ctl)
    assert replicas(members) == {"east": 2, "west": 2}, "Duplicated: the full count each"


async def test_federation_v1_annotations_place_as_v1(world):
    ctl, st, members, _, _ = world
    for name, loc in (("east", "europe"), ("north", "europe"), ("west", "america")):
        await st.create(fedns_kinds.MEMBERS, "", {
            "apiVersion": "fedns.io/v1alpha1", "kind": "Member",
            "metadata": {"name": name, "labels": {"location": loc}}, "spec": {}})
    await st.create(kind(st, "apps", "deployments"), "default", deployment(
        8, **{"federation.alpha.kubernetes.io/cluster-selector":
              '[{"key": "location", "operator": "In", "values": ["europe"]}]',
              "federation.kubernetes.io/deployment-preferences":
              '{"clusters": {"east": {"weight": 3}, "*": {"weight": 1}}}'}))
    await converge(ctl)
    assert replicas(members) == {"east": 6, "north": 2}
    assert (await decision(st))["source"] == "federation-v1-annotations"


async def test_without_a_policy_every_member_gets_an_even_share(world):
    ctl, st, members, _, _ = world
    await st.create(kind(st, "apps", "deployments"), "default", deployment(6))
    await converge(ctl)
    assert replicas(members) == {"east": 2, "north": 2, "west": 2}
    assert (await decision(st))["source"] == "default"


async def test_a_member_that_cannot_schedule_sends_the_rest_elsewhere(world):
    ctl, st, members, clock, _ = world
    spec = {"members": [{"names": ["east", "north"]}], "division": {"type": "Divided"}}
    await st.create(placements.PLACEMENTS, "default", placement_obj(**spec))
    await st.create(kind(st, "apps", "deployments"), "default", deployment(6))
    await converge(ctl)
    assert replicas(members) == {"east": 3, "north": 3}
    pods = members["east"].cache("Pod").cache
    for i in range(2):
        pods[f"default/web-{i}"] = {
            "metadata": {"name": f"web-{i}", "namespace": "default", "labels": {"app": "web"}},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
    members["east"].informers = {"Pod": members["east"].cache("Pod")}  # type: ignore[attr-defined]
    clock.now += placing.POD_SCAN
    result = await ctl.reconcile(DEPLOY)
    assert replicas(members) == {"east": 1, "north": 5}
    assert result.requeue_after == placing.RECHECK, "looked at again while Pods may not fit"


@pytest.mark.parametrize("spec, field", [
    ({"division": {"type": "Divided", "weights": {"east": -1}}}, "spec.division.weights.east"),
    ({"failover": {"tolerationSeconds": "soon"}}, "spec.failover.tolerationSeconds"),
    ({"resourceSelectors": []}, "spec.resourceSelectors"),
    ({"spread": [{"spreadByField": "planet"}]}, "spec.spread[0].spreadByField"),
], ids=["negative-weight", "toleration-not-a-number", "no-selectors", "bad-spread-field"])
async def test_a_bad_placement_is_refused_naming_the_field(world, spec, field):
    _, st, _, _, _ = world
    with pytest.raises(kapi_status.ApiError) as caught:
        await st.create(placements.PLACEMENTS, "default", placement_obj(**spec))
    assert caught.value.code == 422
    assert field in [c["field"] for c in caught.value.details["causes"]]


async def test_a_cluster_placement_is_the_same_spec_without_a_namespace(world):
    ctl, st, members, _, _ = world
    obj = placement_obj(**WEIGHTED)
    obj["kind"] = "ClusterPlacement"
    del obj["metadata"]["namespace"]
    await st.create(placements.CLUSTER_PLACEMENTS, "", obj)
    await st.create(kind(st, "apps", "deployments"), "default", deployment(3))
    await converge(ctl)
    assert replicas(members) == {"east": 2, "north": 1}
    assert (await decision(st))["source"] == "placement/web"


async def test_the_policy_status_lists_what_it_placed(world):
    ctl, st, _, _, _ = world
    await st.create(placements.PLACEMENTS, "default", placement_obj(**WEIGHTED))
    await st.create(kind(st, "apps", "deployments"), "default", deployment(6))
    await converge(ctl)
    status_ctl = placestatus.PlacementStatusController(
        st, templates.propagated(templates.kinds()))
    keys = await status_ctl.keys()
    assert keys == [("placements", "default", "web")]
    await status_ctl.reconcile(keys[0])
    status = (await st.get(placements.PLACEMENTS, "default", "web"))["status"]
    assert status["templates"] == 1
    assert status["summary"] == "default/web: east=4,north=2"
    assert status["decisions"][0]["replicas"] == {"east": 4, "north": 2}
    assert (await status_ctl.reconcile(keys[0])).changed == 0, "unchanged: no write"


async def test_only_a_policy_spec_or_member_labels_change_decides_again(world):
    ctl, st, _, _, _ = world
    prefix = st.collection_key(fedns_kinds.MEMBERS)
    ctl.known.add(DEPLOY)

    def member(labels: dict[str, str], ready: bool) -> bytes:
        return json.dumps({"kind": "Member", "metadata": {"name": "east", "labels": labels},
                           "status": {"ready": ready}}).encode()

    def event(value: bytes | None) -> set[Any]:
        return set(ctl.map(runtime.StoreEvent(prefix, prefix + b"east", value, 1)))
    assert event(member({"env": "prod"}, True)) == {DEPLOY}
    assert event(member({"env": "prod"}, False)) == set(), "a status write is not a change"
    assert event(member({"env": "lab"}, False)) == {DEPLOY}
    assert event(None) == {DEPLOY}


async def test_without_a_policy_a_member_back_gets_its_even_share_again(world):
    ctl, st, members, clock, _ = world
    await st.create(kind(st, "apps", "deployments"), "default", deployment(6))
    await converge(ctl)
    members["west"].ready = False
    await converge(ctl)
    clock.now += 301  # the default toleration
    await converge(ctl)
    assert replicas(members) == {"east": 3, "north": 3, "west": 2}, "west's copy waits for it"
    assert (await decision(st))["withdrawing"] == {"west": 2}
    members["west"].ready = True
    await converge(ctl)
    assert replicas(members) == {"east": 2, "north": 2, "west": 2}
    assert (await decision(st))["withdrawing"] == {}
