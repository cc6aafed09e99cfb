"""Pure pieces of the sim's controllers: quantities, Pod requests, fit reasons, the
pod-template-hash and rollout budgets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedns.sim import deployment, fit, meta


@pytest.mark.parametrize(("text", "value"), [
    pytest.param("100m", Decimal("0.1"), id="millicores"),
    pytest.param("2", Decimal(2), id="cores"),
    pytest.param("1.5", Decimal("1.5"), id="decimal"),
    pytest.param("128Mi", Decimal(128 * 2**20), id="mebibytes"),
    pytest.param("1G", Decimal(10**9), id="gigabytes"),
    pytest.param("1e3", Decimal(1000), id="exponent"),
    pytest.param(3, Decimal(3), id="number"),
    pytest.param("lots", Decimal(0), id="garbage"),
])
def test_quantity(text, value):
    assert fit.quantity(text) == value


def test_pod_request_sums_containers_and_takes_the_largest_init_container():
    pod = {"spec": {
        "containers": [{"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                       {"resources": {"limits": {"cpu": "200m"}}}],
        "initContainers": [{"resources": {"requests": {"cpu": "1"}}}]}}
    assert fit.pod_request(pod) == fit.Request(Decimal(1), Decimal(64 * 2**20), 1)


NODE = {"metadata": {"name": "n", "labels": {"disk": "ssd"}},
        "spec": {},
        "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "2"},
                   "conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.mark.parametrize(("pod_spec", "node_spec", "used", "reasons"), [
    pytest.param({}, {}, fit.NOTHING, [], id="fits"),
    pytest.param({"containers": [{"resources": {"requests": {"cpu": "2"}}}]}, {},
                 fit.NOTHING, ["Insufficient cpu"], id="cpu"),
    pytest.param({}, {}, fit.Request(pods=2), ["Too many pods"], id="pods"),
    pytest.param({"nodeSelector": {"disk": "hdd"}}, {}, fit.NOTHING,
                 ["node(s) didn't match Pod's node affinity/selector"], id="selector"),
    pytest.param({}, {"unschedulable": True}, fit.NOTHING, ["node(s) were unschedulable"],
                 id="cordoned"),
    pytest.param({}, {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
                 fit.NOTHING, ["node(s) had untolerated taint {k: v}"], id="taint"),
    pytest.param({"tolerations": [{"key": "k", "operator": "Exists"}]},
                 {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
                 fit.NOTHING, [], id="tolerated"),
])
def test_fit_reasons(pod_spec, node_spec, used, reasons):
    node = dict(NODE, spec=node_spec)
    assert fit.reasons({"spec": pod_spec}, node, used) == reasons


TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_template_hash_ignores_its_own_label_and_uses_the_safe_alphabet():
    hashed = meta.template_hash(TEMPLATE)
    labelled = {"metadata": {"labels": {"app": "web", "pod-template-hash": hashed}},
                "spec": TEMPLATE["spec"]}
    assert meta.template_hash(labelled) == hashed
    assert meta.template_equal(labelled, TEMPLATE)
    assert set(hashed) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(hashed) <= 10
    assert meta.template_hash(TEMPLATE, collisions=1) != hashed


@pytest.mark.parametrize(("replicas", "rolling", "budget"), [
    pytest.param(4, {}, (1, 1), id="default-25%"),
    pytest.param(10, {"maxSurge": "30%", "maxUnavailable": "30%"}, (3, 3), id="percent"),
    pytest.param(3, {"maxSurge": 0, "maxUnavailable": 0}, (0, 1), id="never-both-zero"),
    pytest.param(1, {"maxSurge": 1, "maxUnavailable": 5}, (1, 1), id="capped"),
])
def test_surge_and_unavailable(replicas, rolling, budget):
    d = {"spec": {"replicas": replicas,
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}}
    assert deployment.surge_and_unavailable(d) == budget


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=100))
def test_percentages_round_surge_up_and_unavailable_down(total, percent):
    up = deployment.resolve(f"{percent}%", total, True)
    down = deployment.resolve(f"{percent}%", total, False)
    assert down <= total * percent / 100 <= up and up - down <= 1
