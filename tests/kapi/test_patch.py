"""Patch logic: JSON patch, merge patch and strategic merge patch, table-driven."""

from __future__ import annotations

import copy

import pytest

from fedns.kapi import patch, strategic

JSON_PATCH_CASES = [
    pytest.param({"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2},
                 id="add-key"),
    pytest.param({"l": [1, 3]}, [{"op": "add", "path": "/l/1", "value": 2}], {"l": [1, 2, 3]},
                 id="add-inserts-in-list"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/-", "value": 2}], {"l": [1, 2]},
                 id="add-appends-with-dash"),
    pytest.param({"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}, id="remove"),
    pytest.param({"a": {"b": 1}}, [{"op": "replace", "path": "/a/b", "value": 5}],
                 {"a": {"b": 5}}, id="replace-nested"),
    pytest.param({"a": 1}, [{"op": "move", "from": "/a", "path": "/b"}], {"b": 1}, id="move"),
    pytest.param({"a": [1]}, [{"op": "copy", "from": "/a", "path": "/b"}], {"a": [1], "b": [1]},
                 id="copy"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a", "value": 1},
                            {"op": "replace", "path": "/a", "value": 2}], {"a": 2},
                 id="test-passes"),
    pytest.param({"a/b": 1, "c~d": 2}, [{"op": "remove", "path": "/a~1b"},
                                        {"op": "replace", "path": "/c~0d", "value": 3}],
                 {"c~d": 3}, id="escaped-pointer"),
    pytest.param({"metadata": {"labels": {"app": "x"}}},
                 [{"op": "add", "path": "/metadata/labels/tier", "value": "web"}],
                 {"metadata": {"labels": {"app": "x", "tier": "web"}}}, id="add-label"),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), JSON_PATCH_CASES)
def test_json_patch(doc, ops, expected):
    before = copy.deepcopy(doc)
    assert patch.json_patch(doc, ops) == expected
    assert doc == before  # input untouched


@pytest.mark.parametrize(("doc", "ops"), [
    pytest.param({"a": 1}, [{"op": "remove", "path": "/b"}], id="remove-missing"),
    pytest.param({"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], id="replace-missing"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a", "value": 2}], id="test-fails"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/5", "value": 2}], id="index-out-of-range"),
    pytest.param({"a": 1}, [{"op": "frob", "path": "/a"}], id="unknown-op"),
    pytest.param({"a": 1}, {"op": "add"}, id="not-a-list"),
    pytest.param({"a": 1}, [{"op": "add", "path": "a", "value": 1}], id="pointer-without-slash"),
])
def test_json_patch_refuses(doc, ops):
    with pytest.raises(patch.BadPatch):
        patch.json_patch(doc, ops)


MERGE_CASES = [
    pytest.param({"a": 1}, {"b": 2}, {"a": 1, "b": 2}, id="adds"),
    pytest.param({"a": 1, "b": 2}, {"a": None}, {"b": 2}, id="null-deletes"),
    pytest.param({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}}, {"a": {"x": 1, "z": 3}},
                 id="nested"),
    pytest.param({"l": [1, 2]}, {"l": [3]}, {"l": [3]}, id="lists-replace"),
    pytest.param({"a": "s"}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="scalar-to-object"),
]


@pytest.mark.parametrize(("doc", "patch_doc", "expected"), MERGE_CASES)
def test_merge_patch(doc, patch_doc, expected):
    assert patch.merge_patch(doc, patch_doc) == expected


SERVICE = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                              {"name": "https", "port": 443}],
                    "selector": {"app": "web"}}}
DEPLOY = {"spec": {"template": {"spec": {"containers": [
    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}],
     "ports": [{"containerPort": 80}]},
    {"name": "side", "image": "side:1"}]}}}}

SMP_CASES = [
    pytest.param(SERVICE, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
                 {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 9090},
                                     {"name": "https", "port": 443}],
                           "selector": {"app": "web"}}}, id="service-ports-merge-by-port"),
    pytest.param(SERVICE, {"spec": {"ports": [{"port": 8080, "name": "alt"}]}},
                 {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080},
                                     {"name": "https", "port": 443},
                                     {"port": 8080, "name": "alt"}],
                           "selector": {"app": "web"}}}, id="service-port-appended"),
    pytest.param(SERVICE, {"spec": {"ports": [{"port": 443, "$patch": "delete"}]}},
                 {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                           "selector": {"app": "web"}}}, id="patch-delete-item"),
    pytest.param(SERVICE, {"spec": {"ports": [{"$patch": "replace"}, {"port": 1}]}},
                 {"spec": {"ports": [{"port": 1}], "selector": {"app": "web"}}},
                 id="patch-replace-list"),
    pytest.param(SERVICE, {"spec": {"selector": {"$patch": "replace", "tier": "x"}}},
                 {"spec": {"ports": SERVICE["spec"]["ports"], "selector": {"tier": "x"}}},
                 id="patch-replace-map"),
    pytest.param(SERVICE, {"spec": {"selector": {"$patch": "delete"}}},
                 {"spec": {"ports": SERVICE["spec"]["ports"]}}, id="patch-delete-map"),
    pytest.param(SERVICE, {"spec": {"selector": None}},
                 {"spec": {"ports": SERVICE["spec"]["ports"]}}, id="null-deletes"),
    pytest.param(DEPLOY, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
        "containers": [{"name": "app", "image": "app:2"}]}}}},
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}],
                      "ports": [{"containerPort": 80}]},
                     {"name": "side", "image": "side:1"}]}}}}, id="containers-by-name"),
    pytest.param(DEPLOY, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"name": "side", "image": "side:2"}]}}}},
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "side", "image": "side:2"},
                     {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}],
                      "ports": [{"containerPort": 80}]}]}}}}, id="set-element-order"),
    pytest.param(DEPLOY, {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "B", "value": "2"}],
         "ports": [{"containerPort": 81}]}]}}}},
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "app", "image": "app:1",
                      "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                      "ports": [{"containerPort": 80}, {"containerPort": 81}]},
                     {"name": "side", "image": "side:1"}]}}}},
                 id="env-by-name-container-ports-by-containerPort"),
    pytest.param({"metadata": {"finalizers": ["a", "b"]}},
                 {"metadata": {"finalizers": ["c"]}},
                 {"metadata": {"finalizers": ["a", "b", "c"]}}, id="finalizers-merge-as-set"),
    pytest.param({"metadata": {"finalizers": ["a", "b"]}},
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
                 {"metadata": {"finalizers": ["b"]}}, id="delete-from-primitive-list"),
    pytest.param({"status": {"conditions": [{"type": "Ready", "status": "False"},
                                            {"type": "Other", "status": "True"}]}},
                 {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                 {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                            {"type": "Other", "status": "True"}]}},
                 id="conditions-by-type"),
    pytest.param({"endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]},
                 {"endpoints": [{"addresses": ["10.0.0.3"]}]},
                 {"endpoints": [{"addresses": ["10.0.0.3"]}]},
                 id="endpointslice-endpoints-atomic"),
    pytest.param({"spec": {"strategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": 1}}}},
                 {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
                 {"spec": {"strategy": {"type": "Recreate"}}}, id="retain-keys"),
    pytest.param({"spec": {"args": ["a", "b"]}}, {"spec": {"args": ["c"]}},
                 {"spec": {"args": ["c"]}}, id="unlisted-lists-replace"),
]


@pytest.mark.parametrize(("doc", "patch_doc", "expected"), SMP_CASES)
def test_strategic_merge_patch(doc, patch_doc, expected):
    before = copy.deepcopy(doc)
    assert strategic.apply(doc, patch_doc) == expected
    assert doc == before


@pytest.mark.parametrize(("path", "key"), [
    pytest.param(("spec", "ports"), "port", id="service-ports"),
    pytest.param(("spec", "template", "spec", "containers", "ports"), "containerPort",
                 id="container-ports"),
    pytest.param(("spec", "containers"), "name", id="containers"),
    pytest.param(("status", "conditions"), "type", id="conditions"),
    pytest.param(("status", "addresses"), "type", id="node-addresses"),
    pytest.param(("endpoints",), None, id="endpointslice-endpoints-atomic"),
    pytest.param(("subsets",), None, id="endpoints-subsets-atomic"),
])
def test_list_rules(path, key):
    rule = strategic.list_rule(path)
    assert (rule.merge_key if rule else None) == key


def test_strategic_refuses_item_without_merge_key():
    with pytest.raises(patch.BadPatch):
        strategic.apply(SERVICE, {"spec": {"ports": [{"name": "x"}]}})
