"""A CRD read into kinds, its reported status, and unknown-field walks (built-in and
custom schemas), table-driven."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from fedns.kapi import builtin, crds, fieldvalidation, tables
from fedns.kapi.registry import Kind

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


def crd(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True}]}
    base.update(spec)
    return {"metadata": {"name": "widgets.example.com"}, "spec": base}


@pytest.mark.parametrize(("spec", "check"), [
    pytest.param({}, lambda ks: [(k.version, k.namespaced, k.status, k.scale) for k in ks]
                 == [("v1", True, False, None)], id="plain"),
    pytest.param({"scope": "Cluster"}, lambda ks: not ks[0].namespaced, id="cluster-scope"),
    pytest.param({"versions": [{"name": "v1alpha1", "served": True},
                               {"name": "v1", "served": True, "storage": True},
                               {"name": "v1beta1", "served": True},
                               {"name": "v2", "served": False}]},
                 lambda ks: [k.version for k in ks] == ["v1", "v1beta1", "v1alpha1"],
                 id="served-versions-best-first"),
    pytest.param({"versions": [{"name": "v1", "served": True, "storage": True,
                                "subresources": {"status": {}, "scale": {
                                    "specReplicasPath": ".spec.count",
                                    "statusReplicasPath": ".status.count",
                                    "labelSelectorPath": ".status.selector"}}}]},
                 lambda ks: ks[0].status and ks[0].scale is not None
                 and ks[0].scale.spec_replicas_path == ".spec.count"
                 and ks[0].scale.label_selector_path == ".status.selector",
                 id="subresources"),
    pytest.param({"names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"],
                            "categories": ["all"]}},
                 lambda ks: ks[0].short_names == ("wd",) and ks[0].categories == ("all",)
                 and ks[0].singular_name == "widget", id="names"),
    pytest.param({"names": {"plural": "widgets"}}, lambda ks: ks == [], id="no-kind-no-kinds"),
])
def test_kinds_of(spec, check):
    assert check(crds.kinds_of(crd(**spec)))


def test_printer_columns_name_first_no_age_unless_declared():
    (kind,) = crds.kinds_of(crd(versions=[{
        "name": "v1", "served": True, "storage": True,
        "additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Made", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {"name": "Note", "type": "string", "jsonPath": ".spec.note", "priority": 1}]}]))
    table = tables.to_table(kind.printer, [{"metadata": {
        "name": "w", "creationTimestamp": "2026-12-06T11:00:00Z"}, "spec": {"size": 2}}],
        now=NOW)
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", 0), ("Size", 0), ("Made", 0), ("Note", 1)]
    assert table["rows"][0]["cells"] == ["w", 2, "60m", None]


def test_default_crd_reports_established_and_stored_versions():
    obj = crd(names={"plural": "widgets", "kind": "Widget"})
    crds.default_crd(obj)
    assert obj["spec"]["names"]["listKind"] == "WidgetList"
    assert obj["status"]["acceptedNames"]["singular"] == "widget"
    assert [c["type"] for c in obj["status"]["conditions"]] == ["NamesAccepted", "Established"]
    assert obj["status"]["storedVersions"] == ["v1"]


@pytest.mark.parametrize(("version", "before"), [
    ("v2", "v1"), ("v1", "v1beta2"), ("v1beta2", "v1beta1"), ("v1beta1", "v1alpha1"),
    ("v1alpha1", "foo"),
])
def test_version_priority(version, before):
    assert crds.version_priority(version) < crds.version_priority(before)


# -- unknown fields --------------------------------------------------------------------

def _builtin(plural: str) -> Kind:
    return next(k for k in builtin.registry().kinds() if k.plural == plural)


CUSTOM = Kind("example.com", "v1", "widgets", "Widget", schema={
    "type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "parts": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "properties": {"spec": {"type": "object"}}}}}}})


@pytest.mark.parametrize(("kind", "obj", "found"), [
    pytest.param(_builtin("deployments"),
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "a", "image": "x"}, {"name": "b", "imagee": "y"}]}}}},
                 [("spec.template.spec.containers[1].imagee",
                   '.spec.template.spec.containers[name="b"].imagee')],
                 id="list-map-key-in-apply-path"),
    pytest.param(_builtin("configmaps"), {"data": {"any": "key"}, "metadata": {"nme": "x"}},
                 [("metadata.nme", ".metadata.nme")], id="map-values-free-meta-checked"),
    pytest.param(_builtin("services"), {"spec": {"ports": [{"port": 80,
                                                            "targetPort": "http"}]}},
                 [], id="int-or-string"),
    pytest.param(CUSTOM, {"apiVersion": "example.com/v1", "kind": "Widget",
                          "metadata": {"name": "w", "labelz": {}},
                          "spec": {"size": 1, "labels": {"a": "b"}, "free": {"x": {"y": 1}},
                                   "parts": [{"name": "p", "colour": "red"}],
                                   "template": {"apiVersion": "v1", "kind": "Pod",
                                                "metadata": {}, "spec": {"x": 1}}},
                          "bogus": True},
                 [("metadata.labelz", ".metadata.labelz"),
                  ("spec.parts[0].colour", ".spec.parts[0].colour"), ("bogus", ".bogus")],
                 id="custom-schema"),
    pytest.param(Kind("fedns.io", "v1alpha1", "ippools", "IPPool"), {"anything": 1}, [],
                 id="no-schema-takes-anything"),
])
def test_unknown_fields(kind, obj, found):
    assert fieldvalidation.unknown(kind, obj) == found


def test_prune_removes_what_it_reports():
    obj = {"spec": {"replicas": 1, "bogus": 1}, "extra": 2}
    found = fieldvalidation.unknown(_builtin("deployments"), obj, prune=True)
    assert [path for path, _ in found] == ["spec.bogus", "extra"]
    assert obj == {"spec": {"replicas": 1}}


@pytest.mark.parametrize(("value", "text"), [
    ({"spec": {"bogus": 1, "a": [1, "x"]}}, "map[spec:map[a:[1 x] bogus:1]]"),
    ({"k": None, "b": True}, "map[b:true k:<nil>]"),
])
def test_go_value_prints_like_go(value, text):
    assert fieldvalidation.go_value(value) == text
