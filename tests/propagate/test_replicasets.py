"""The endpoint's ReplicaSet of a Deployment: what Helm 3's --wait finds (owned,
selected, same template but the hash), never propagated, its status the members'."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propagate import manifest, replicasets

DEPLOY: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team", "uid": "d-1", "generation": 2},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}


def with_image(image: str) -> dict[str, Any]:
    d = copy.deepcopy(DEPLOY)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return d


def test_desired_is_what_a_deployment_controller_would_make():
    rs = replicasets.desired(DEPLOY)
    meta = rs["metadata"]
    digest = rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
    assert meta["name"] == f"web-{digest}" and meta["namespace"] == "team"
    assert meta["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web", "uid": "d-1", "controller": True,
                                        "blockOwnerDeletion": True}]
    assert meta["labels"] == {"app": "web", "pod-template-hash": digest,
                              "app.kubernetes.io/managed-by": "fedns"}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": digest}}
    assert replicasets.same_template(rs["spec"]["template"], DEPLOY["spec"]["template"])
    assert rs["spec"]["replicas"] == 3
    assert replicasets.kept(rs) and not manifest.propagated(rs)
    assert DEPLOY["spec"]["template"]["metadata"]["labels"] == {"app": "web"}, "not changed"


@pytest.mark.parametrize("obj,kept", [
    pytest.param(replicasets.desired(DEPLOY), True, id="kept"),
    pytest.param({"kind": "ReplicaSet", "metadata": {"name": "mine"}}, False, id="team-template"),
    pytest.param({"kind": "ReplicaSet", "metadata": {
        "labels": {"app.kubernetes.io/managed-by": "fedns"},
        "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": False}]}},
        False, id="not-controller"),
    pytest.param({"kind": "ReplicaSet", "metadata": {
        "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}]}},
        False, id="not-fedns"),
    pytest.param(None, False, id="none"),
])
def test_kept(obj, kept):
    assert replicasets.kept(obj) is kept


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_the_hash_names_the_template(a, b):
    ha, hb = (replicasets.template_hash(with_image(x)["spec"]["template"]) for x in (a, b))
    assert (ha == hb) or a != b
    assert set(ha) <= set(replicasets.ALPHABET)
    labelled = copy.deepcopy(with_image(a)["spec"]["template"])
    labelled["metadata"]["labels"]["pod-template-hash"] = "x"
    assert replicasets.template_hash(labelled) == ha, "the hash label does not count"


def member_rs(owner_uid: str, image: str, ready: int, controller: bool = True) -> dict[str, Any]:
    template = copy.deepcopy(with_image(image)["spec"]["template"])
    template["metadata"]["labels"]["pod-template-hash"] = "abc"
    return {"kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": owner_uid, "controller": controller}]},
            "spec": {"template": template},
            "status": {"replicas": ready, "readyReplicas": ready, "availableReplicas": ready}}


@pytest.mark.parametrize("sets,expected", [
    pytest.param([member_rs("m-1", "nginx:1.27", 1)], 1, id="current"),
    pytest.param([member_rs("m-1", "nginx:old", 1)], 0, id="old-template"),
    pytest.param([member_rs("m-2", "nginx:1.27", 1)], 0, id="other-owner"),
    pytest.param([member_rs("m-1", "nginx:1.27", 1, controller=False)], 0, id="not-controller"),
    pytest.param([], 0, id="none-yet"),
])
def test_member_current(sets, expected):
    copy_ = {**with_image("nginx:1.27"), "metadata": {"name": "web", "uid": "m-1"}}
    assert len(replicasets.member_current(copy_, sets)) == expected
    assert replicasets.member_current(None, sets) == []


def test_summed_adds_the_members_and_observes_its_generation():
    rs = {**replicasets.desired(DEPLOY)}
    rs["metadata"] = {**rs["metadata"], "generation": 4}
    status = replicasets.summed(rs, [member_rs("a", "x", 1), member_rs("b", "x", 2)])
    assert status == {"replicas": 3, "fullyLabeledReplicas": 0, "readyReplicas": 3,
                      "availableReplicas": 3, "observedGeneration": 4}
