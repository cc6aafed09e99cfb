"""propagate.order: Namespaces first, workloads after what they refer to."""

from __future__ import annotations

import pytest

from propagate import order


def test_sort_keys_puts_namespaces_first_and_workloads_after_config():
    keys = [("apps/Deployment", "team", "web"), ("Service", "team", "web"),
            ("ConfigMap", "team", "cfg"), ("Namespace", "", "team"),
            ("networking.k8s.io/Ingress", "team", "web"), ("example.com/Widget", "team", "w")]
    assert [k[0] for k in order.sort_keys(keys)] == [
        "Namespace", "ConfigMap", "Service", "apps/Deployment", "networking.k8s.io/Ingress",
        "example.com/Widget"]


@pytest.mark.parametrize("namespace, present, waits", [
    ("team", ["default"], True),
    ("team", ["default", "team"], False),
    ("default", [], False),
    ("kube-system", [], False),
    ("", [], False),
], ids=["missing", "present", "default", "system", "cluster-scoped"])
def test_waits_for_namespace(namespace, present, waits):
    assert order.waits_for_namespace(namespace, present) is waits
