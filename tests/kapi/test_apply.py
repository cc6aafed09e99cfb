"""Server-side apply: field sets, ownership, removal of dropped fields, conflicts."""

from __future__ import annotations

import pytest

from fedns.kapi import apply

NOW = "2026-01-10T12:00:00Z"


def svc(ports, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": ports, **spec}}


@pytest.mark.parametrize(("body", "paths"), [
    pytest.param({"metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v"}},
                 {("f:metadata", "f:labels", "f:a"), ("f:data", "f:k")}, id="maps"),
    pytest.param(svc([{"port": 80, "name": "http"}]),
                 {("f:spec", "f:ports", 'k:{"port":80}', "."),
                  ("f:spec", "f:ports", 'k:{"port":80}', "f:port"),
                  ("f:spec", "f:ports", 'k:{"port":80}', "f:name")}, id="keyed-list"),
    pytest.param({"spec": {"args": ["a", "b"]}}, {("f:spec", "f:args")}, id="atomic-list"),
    pytest.param({"spec": {"empty": {}}}, {("f:spec", "f:empty")}, id="empty-map-is-a-leaf"),
])
def test_field_set(body, paths):
    assert apply.field_set(body) == paths
    assert apply.from_fields_v1(apply.to_fields_v1(paths)) == paths


def _apply(live, body, manager, force=False):
    return apply.apply(live, body, manager, force=force, api_version="v1", now=NOW)


def test_first_apply_records_the_manager():
    out = _apply(None, svc([{"port": 80}]), "helm")
    assert out.obj["spec"]["ports"] == [{"port": 80}]
    (entry,) = out.managed
    assert entry["manager"] == "helm" and entry["operation"] == "Apply"
    assert entry["fieldsV1"]["f:spec"]["f:ports"]['k:{"port":80}'] == {".": {}, "f:port": {}}


def _live(body, manager):
    out = _apply(None, body, manager)
    out.obj["metadata"]["managedFields"] = out.managed
    out.obj["spec"]["clusterIP"] = "10.96.0.10"  # set by the server, owned by nobody
    return out.obj


def test_dropped_fields_are_removed_and_others_kept():
    live = _live(svc([{"port": 80}, {"port": 443}], selector={"app": "web"}), "helm")
    out = _apply(live, svc([{"port": 80}]), "helm")
    assert out.obj["spec"]["ports"] == [{"port": 80}]
    assert "selector" not in out.obj["spec"]
    assert out.obj["spec"]["clusterIP"] == "10.96.0.10"


def test_a_second_manager_merges_and_conflicts_on_changed_values():
    live = _live(svc([{"port": 80, "targetPort": 8080}]), "helm")
    same = _apply(live, svc([{"port": 80, "targetPort": 8080}]), "kubectl")
    assert not same.conflicts  # same value: co-owned
    other = _apply(live, svc([{"port": 80, "targetPort": 9090}]), "kubectl")
    assert [(c.manager, c.field) for c in other.conflicts] == [
        ("helm", '.spec.ports[{"port":80}].targetPort')]
    forced = _apply(live, svc([{"port": 80, "targetPort": 9090}]), "kubectl", force=True)
    assert forced.obj["spec"]["ports"] == [{"port": 80, "targetPort": 9090}]
    helm = next(e for e in forced.managed if e["manager"] == "helm")
    assert "f:targetPort" not in helm["fieldsV1"]["f:spec"]["f:ports"]['k:{"port":80}']


def test_a_field_owned_by_another_manager_survives_when_dropped():
    live = _live(svc([{"port": 80}], selector={"app": "web"}), "helm")
    live["metadata"]["managedFields"] += _apply(live, svc([{"port": 80}],
                                                          selector={"app": "web"}),
                                                "kubectl").managed[-1:]
    out = _apply(live, svc([{"port": 80}]), "helm")
    assert out.obj["spec"]["selector"] == {"app": "web"}


def test_unchanged_apply_keeps_the_time():
    live = _live(svc([{"port": 80}]), "helm")
    out = apply.apply(live, svc([{"port": 80}]), "helm", force=False, api_version="v1",
                      now="2030-01-01T00:00:00Z")
    assert out.managed[-1]["time"] == NOW
