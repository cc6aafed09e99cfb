"""Every overlay renders with ``kubectl kustomize`` and every object validates offline.

Core kinds are checked by kubernetes-validate in strict mode (unknown fields are
errors) against the Kubernetes 1.37 schemas.  It has no schema for custom resources:
the only one here, ServiceMonitor (monitoring.coreos.com/v1), is skipped by name and
checked structurally instead (its selector and ports must reach a real Service).
"""

from __future__ import annotations

import copy
from types import ModuleType

import pytest

from tests.deploy import manifests

TARGETS = [f"overlays/{o}" for o in manifests.OVERLAYS] + ["member", "member/propagation"]


def test_there_are_the_two_overlays():
    assert manifests.OVERLAYS == ["ha", "single-site"]


def validate(kv: ModuleType, obj: manifests.Obj) -> None:
    kv.validate(obj, manifests.KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_in_strict_mode(target):
    objects = manifests.render(target)
    assert objects
    checked, skipped = manifests.validate_strictly(objects)
    assert checked >= (2 if target == "member/propagation" else 5)  # a role, its binding
    if target.startswith("overlays/"):
        # the ServiceMonitors are there, and only they skip
        assert skipped == manifests.CUSTOM_KINDS


def test_custom_kinds_really_have_no_schema(kv):
    monitor = manifests.find(manifests.render("overlays/single-site"), "ServiceMonitor")[0]
    with pytest.raises(kv.SchemaNotFoundError):
        validate(kv, monitor)


@pytest.mark.parametrize("where, typo", [
    (("spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet"), "pth"),
    (("spec", "template", "spec", "securityContext"), "runAsNonRot"),
    (("spec",), "replica"),
], ids=["probe", "security-context", "spec"])
def test_strict_mode_catches_a_misspelt_field(kv, where, typo):
    deployment = copy.deepcopy(manifests.one(manifests.render("overlays/ha"), "Deployment",
                                             "fedns"))
    node = deployment
    for key in where:
        node = node[key]
    node[typo] = "x"
    with pytest.raises(kv.ValidationError):
        validate(kv, deployment)


@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_service_monitors_reach_a_service_port(overlay):
    objects = manifests.render(f"overlays/{overlay}")
    monitors = manifests.find(objects, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"fedns", "coredns", "etcd"}
    for monitor in monitors:
        assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(monitor["spec"]) == {"selector", "endpoints"}
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [s for s in manifests.find(objects, "Service")
                    if manifests.matches(selector, s["metadata"]["labels"])]
        ports = {p["name"] for s in services for p in s["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert set(endpoint) <= {"port", "path", "scheme", "interval"}
            assert endpoint["port"] in ports, monitor["metadata"]["name"]
            assert endpoint["path"] == "/metrics" and endpoint["scheme"] == "http"
