"""The account, storage, RBAC and policy kinds: defaults, Secret stringData, Table
cells, and the review kinds."""

from __future__ import annotations

import datetime

import pytest

from fedns.kapi import builtin, clusterkinds, clusterprinters, reviews, tables

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)
CREATED = "2026-12-06T11:55:00Z"


@pytest.mark.parametrize(("secret", "data"), [
    pytest.param({"stringData": {"user": "admin"}}, {"user": "YWRtaW4="}, id="string-only"),
    pytest.param({"data": {"user": "b2xk", "pw": "eA=="}, "stringData": {"user": "admin"}},
                 {"user": "YWRtaW4=", "pw": "eA=="}, id="string-wins-over-data"),
    pytest.param({"data": {"pw": "eA=="}}, {"pw": "eA=="}, id="data-only"),
    pytest.param({"stringData": {}}, None, id="empty-dropped"),
])
def test_secret_string_data_merges_into_data(secret, data):
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **secret}
    builtin.default_secret(obj)
    assert "stringData" not in obj
    assert obj.get("data") == data
    assert obj["type"] == "Opaque"


def _kind(plural):
    reg = builtin.registry()
    return next(k for k in reg.kinds() if k.plural == plural)


@pytest.mark.parametrize(("plural", "obj", "cells"), [
    pytest.param("serviceaccounts", {"secrets": [{"name": "t"}]}, ["x", 1, "5m"], id="sa"),
    pytest.param("persistentvolumeclaims",
                 {"spec": {"volumeName": "pv1", "storageClassName": "fast"},
                  "status": {"phase": "Bound", "capacity": {"storage": "1Gi"},
                             "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}},
                 ["x", "Bound", "pv1", "1Gi", "RWO,RWX", "fast", "<unset>", "5m", "<unset>"],
                 id="pvc-bound"),
    pytest.param("persistentvolumes",
                 {"spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                           "persistentVolumeReclaimPolicy": "Retain",
                           "claimRef": {"namespace": "default", "name": "data"}},
                  "status": {"phase": "Bound"}},
                 ["x", "5Gi", "RWO", "Retain", "Bound", "default/data", "", "<unset>", "",
                  "5m", "<unset>"], id="pv"),
    pytest.param("storageclasses",
                 {"metadata": {"annotations": {clusterprinters.DEFAULT_CLASS: "true"}},
                  "provisioner": "rancher.io/local-path"},
                 ["x (default)", "rancher.io/local-path", "Delete", "Immediate", "false", "5m"],
                 id="storageclass-default"),
    pytest.param("rolebindings",
                 {"roleRef": {"kind": "Role", "name": "r"},
                  "subjects": [{"kind": "User", "name": "bob"},
                               {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}]},
                 ["x", "Role/r", "5m", "bob", "", "ns/sa"], id="rolebinding"),
    pytest.param("roles", {}, ["x", CREATED], id="role-created-at"),
    pytest.param("networkpolicies", {"spec": {"podSelector": {"matchLabels": {"app": "a"}}}},
                 ["x", "app=a", "5m"], id="netpol"),
    pytest.param("networkpolicies", {"spec": {"podSelector": {}}}, ["x", "<none>", "5m"],
                 id="netpol-every-pod"),
    pytest.param("poddisruptionbudgets", {"spec": {"maxUnavailable": "25%"},
                                          "status": {"disruptionsAllowed": 2}},
                 ["x", "N/A", "25%", 2, "5m"], id="pdb"),
])
def test_table_cells(plural, obj, cells):
    kind = _kind(plural)
    meta = {"name": "x", "creationTimestamp": CREATED, **(obj.get("metadata") or {})}
    table = tables.to_table(kind.printer, [{**obj, "metadata": meta}], now=NOW)
    assert table["rows"][0]["cells"] == cells
    assert len(table["columnDefinitions"]) == len(cells)


@pytest.mark.parametrize(("plural", "short"), [
    ("serviceaccounts", ("sa",)), ("persistentvolumeclaims", ("pvc",)),
    ("persistentvolumes", ("pv",)), ("storageclasses", ("sc",)),
    ("networkpolicies", ("netpol",)), ("poddisruptionbudgets", ("pdb",)),
    ("customresourcedefinitions", ("crd", "crds")), ("roles", ()),
])
def test_short_names_are_kube_apiservers(plural, short):
    assert _kind(plural).short_names == short


@pytest.mark.parametrize(("plural", "obj", "expected"), [
    pytest.param("persistentvolumeclaims", {}, {"status": {"phase": "Pending"},
                                                "spec": {"volumeMode": "Filesystem"}},
                 id="pvc-pending"),
    pytest.param("storageclasses", {}, {"reclaimPolicy": "Delete",
                                        "volumeBindingMode": "Immediate"}, id="sc"),
])
def test_defaults(plural, obj, expected):
    kind = _kind(plural)
    assert kind.default is not None
    kind.default(obj)
    assert obj == expected


@pytest.mark.parametrize(("review", "field", "value"), [
    pytest.param(reviews.access_review, "allowed", True, id="access"),
    pytest.param(reviews.self_review, "userInfo", reviews.USER, id="whoami"),
    pytest.param(reviews.rules_review, "incomplete", False, id="rules"),
])
def test_reviews_answer_the_single_user(review, field, value):
    body = {"apiVersion": "x/v1", "kind": "K", "spec": {"resourceAttributes": {"verb": "get"}}}
    answer = review(body)
    assert answer["status"][field] == value
    assert answer["spec"] == body["spec"] and "status" not in body


def test_scale_only_on_scalable_workloads():
    reg = builtin.registry()
    scalable = {k.plural for k in reg.kinds() if k.scale is not None}
    assert {"deployments", "replicasets"} <= scalable <= set(clusterkinds.SCALABLE)
