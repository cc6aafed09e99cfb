"""propagate.manifest: what a member gets from a template, and when it needs a write."""

from __future__ import annotations

import copy

import pytest

from propagate import manifest

DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team", "uid": "u-1", "resourceVersion": "9",
                 "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                 "managedFields": [{"manager": "kubectl"}], "finalizers": ["fedns.io/propagation"],
                 "ownerReferences": [{"kind": "X", "name": "y", "uid": "z"}],
                 "labels": {"app": "web"},
                 "annotations": {"team": "a", "fedns.io/members": "{}", "fedns.io/adopt": "true",
                                 "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}},
    "status": {"replicas": 6},
}
SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "team",
                                                        "generation": 1},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
             "healthCheckNodePort": 31000,
             "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]},
    "status": {"loadBalancer": {}},
}
JOB = {
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "generation": 1},
    "spec": {"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
             "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "u",
                                                  "job-name": "j", "app": "j"}}}},
}


def test_server_fields_and_fedns_annotations_are_stripped():
    out = manifest.build(DEPLOY, {"replicas": 2})
    meta = out["metadata"]
    assert set(meta) == {"name", "namespace", "labels", "annotations"}
    assert meta["labels"] == {"app": "web", "app.kubernetes.io/managed-by": "fedns"}
    assert meta["annotations"]["team"] == "a"
    assert meta["annotations"][manifest.GENERATION] == "3"
    assert not {"fedns.io/members", "fedns.io/adopt",
                "kubectl.kubernetes.io/last-applied-configuration"} & set(meta["annotations"])
    assert "status" not in out and out["spec"]["replicas"] == 2
    assert DEPLOY["spec"]["replicas"] == 6  # the template is not changed


def test_service_loses_what_the_endpoint_allocated():
    spec = manifest.build(SERVICE)["spec"]
    assert spec == {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}


@pytest.mark.parametrize("manual, selector", [(False, None), (True, {"matchLabels": {
    "batch.kubernetes.io/controller-uid": "u"}})], ids=["generated", "manual"])
def test_job_generated_selector(manual, selector):
    job = copy.deepcopy(JOB)
    if manual:
        job["spec"]["manualSelector"] = True
    out = manifest.build(job)
    assert out["spec"].get("selector") == selector
    labels = out["spec"]["template"]["metadata"]["labels"]
    assert ("job-name" in labels) is manual and labels["app"] == "j"


def test_hash_follows_content_and_generation():
    base = manifest.build(DEPLOY, {"replicas": 2})
    assert manifest.build(DEPLOY, {"replicas": 2}) == base
    assert manifest.notes_of(manifest.build(DEPLOY, {"replicas": 3}))[manifest.HASH] != \
        manifest.notes_of(base)[manifest.HASH]
    newer = copy.deepcopy(DEPLOY)
    newer["metadata"]["generation"] = 4
    assert manifest.notes_of(manifest.build(newer, {"replicas": 2}))[manifest.HASH] != \
        manifest.notes_of(base)[manifest.HASH]
    moved = copy.deepcopy(DEPLOY)
    moved["metadata"]["resourceVersion"] = "99"  # server fields do not count
    assert manifest.build(moved, {"replicas": 2}) == base


def _live(m, **notes):
    live = copy.deepcopy(m)
    live["metadata"]["uid"] = "member-uid"
    live["metadata"]["annotations"].update(notes)
    live["status"] = {"replicas": 2}
    return live


M = manifest.build(DEPLOY, {"replicas": 2})
EDITED = _live(M)
EDITED["spec"]["template"]["spec"]["containers"] = [{"name": "c", "image": "mine"}]
SCALED = _live(M)
SCALED["spec"]["replicas"] = 5
DEFAULTED = _live(M)
DEFAULTED["spec"]["strategy"] = {"type": "RollingUpdate"}
DEFAULTED["spec"]["template"]["spec"]["restartPolicy"] = "Always"
DEFAULTED["metadata"]["labels"]["extra"] = "x"
UNMANAGED = copy.deepcopy(M)
UNMANAGED["metadata"]["labels"].pop("app.kubernetes.io/managed-by")


@pytest.mark.parametrize("live, wanted", [
    (None, True),
    (_live(M), False),
    (_live(M, **{manifest.HASH: "other"}), True),
    (_live(M, **{manifest.ORPHANED: "true"}), True),
    (UNMANAGED, True),
    (EDITED, True),
    (SCALED, False),
    (DEFAULTED, False),
], ids=["absent", "same", "changed", "orphaned", "unmanaged", "edited-in-member",
        "scaled-in-member", "defaulted-by-member"])
def test_needs_update(live, wanted):
    assert manifest.needs_update(M, live) is wanted


@pytest.mark.parametrize("template, wanted", [
    ({"kind": "Secret", "type": "helm.sh/release.v1", "metadata": {"name": "sh.helm"}}, False),
    ({"kind": "Secret", "type": "Opaque", "metadata": {"name": "s"}}, True),
    ({"kind": "Event", "metadata": {"name": "e"}}, False),
    ({"kind": "Namespace", "metadata": {"name": "default"}}, False),
    ({"kind": "Namespace", "metadata": {"name": "kube-system"}}, False),
    ({"kind": "Namespace", "metadata": {"name": "team"}}, True),
    (DEPLOY, True),
], ids=["helm-release", "secret", "event", "default-ns", "system-ns", "team-ns", "deploy"])
def test_propagated(template, wanted):
    assert manifest.propagated(template) is wanted


HPA = {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
       "spec": {"minReplicas": 2, "maxReplicas": 10}}


@pytest.mark.parametrize("template, wanted", [
    (DEPLOY, {"replicas": 6}),
    ({"kind": "ReplicaSet", "spec": {}}, {"replicas": 1}),
    ({"kind": "StatefulSet", "spec": {"replicas": 0}}, {"replicas": 0}),
    (HPA, {"minReplicas": 2, "maxReplicas": 10}),
    ({"kind": "DaemonSet", "spec": {}}, {}),
    (SERVICE, {}),
], ids=["deploy", "rs-default", "sts-zero", "hpa", "daemonset", "service"])
def test_totals(template, wanted):
    assert manifest.totals(template) == wanted


@pytest.mark.parametrize("shares, bounds", [
    ({"minReplicas": 1, "maxReplicas": 4}, (1, 4)),
    ({"minReplicas": 0, "maxReplicas": 3}, (1, 3)),
    ({"minReplicas": 0, "maxReplicas": 0}, (1, 1)),
], ids=["share", "min-at-least-one", "max-at-least-min"])
def test_an_autoscalers_share_stays_valid(shares, bounds):
    spec = manifest.build(HPA, shares)["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == bounds


@pytest.mark.parametrize("live, wanted, covered", [
    ({"a": 1, "b": 2}, {"a": 1}, True),
    ({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 1}]}, True),
    ({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 1}]}, False),
    ({"a": "1"}, {"a": 1}, False),
    ({}, {"a": None}, False),
], ids=["extra-key", "defaulted-in-list", "longer-list", "type-differs", "missing-key"])
def test_covers(live, wanted, covered):
    assert manifest.covers(live, wanted) is covered


def test_copies_and_orphans():
    live = _live(M)
    assert manifest.is_copy(live) and not manifest.is_copy(UNMANAGED | {"metadata": {}})
    left = manifest.orphaned(live)
    assert manifest.notes_of(left)[manifest.ORPHANED] == "true"
    assert "uid" not in left["metadata"] and "status" not in left
    assert manifest.is_true(DEPLOY, manifest.ADOPT) and not manifest.is_true(DEPLOY, manifest.ORPHAN)
