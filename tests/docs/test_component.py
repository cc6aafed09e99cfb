"""deploy/dashboards as an overlay uses it: a kustomize component next to an overlay.

A throwaway kustomization (in a temporary directory, naming the repository's overlay
and component by relative path, as kustomize requires) renders with ``kubectl
kustomize``; the dashboard ConfigMap carries the sidecar label, a stable name and the
dashboard byte for byte, validates in strict mode, and the PrometheusRule is the file.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess

import pytest
import yaml

from tests.deploy import manifests
from tests.docs.test_dashboard import ALERTS, DASHBOARD

COMPONENT = manifests.DEPLOY / "dashboards"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[manifests.Obj]:
    where = tmp_path_factory.mktemp("overlay")
    up = os.path.relpath(manifests.DEPLOY, where)
    (where / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "fedns",
        "resources": [f"{up}/overlays/single-site"],
        "components": [f"{up}/dashboards"],
    }))
    result = subprocess.run([manifests.kubectl(), "kustomize", str(where)], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_component_is_a_component():
    doc = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert doc["kind"] == "Component"


def test_dashboard_configmap_is_labelled_for_the_grafana_sidecar(rendered):
    cm = manifests.one(rendered, "ConfigMap", "fedns-dashboard")  # no hash suffix
    assert cm["metadata"]["namespace"] == "fedns"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "fedns"
    assert cm["data"] == {"fedns.json": DASHBOARD.read_text()}
    json.loads(cm["data"]["fedns.json"])


def test_dashboard_configmap_validates_in_strict_mode(rendered):
    try:
        kv = importlib.import_module("kubernetes_validate")
    except ImportError:
        pytest.fail("kubernetes-validate is not installed (the test extra installs it)")
    kv.validate(manifests.one(rendered, "ConfigMap", "fedns-dashboard"),
                manifests.KUBERNETES_VERSION, strict=True)


def test_prometheus_rule_is_the_alerts_file(rendered):
    rule = manifests.one(rendered, "PrometheusRule", "fedns")
    assert rule["metadata"]["namespace"] == "fedns"
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())["spec"]


def test_the_overlay_is_otherwise_unchanged(rendered):
    def ids(objects: list[manifests.Obj]) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in objects}
    plain = manifests.render("overlays/single-site")
    assert ids(rendered) - ids(plain) == {("ConfigMap", "fedns-dashboard"),
                                          ("PrometheusRule", "fedns")}
    assert ids(plain) <= ids(rendered)

