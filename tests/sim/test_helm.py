"""Real Helm 3.17 and Helm 4 against ``fedns sim`` started as a process: the stock
``helm create`` chart installs with ``--wait``, upgrades, rolls back, passes
``helm test`` and uninstalls, as against a real cluster."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.sim.test_kubectl import Sim, kubectl
from tests.support import tools

HELM = [pytest.param(3, id="helm3"), pytest.param(4, id="helm4")]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    running = Sim(str(tmp_path_factory.mktemp("sim")), "alpha")
    try:
        running.wait_kubeconfig()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The unmodified chart ``helm create`` writes."""
    where = tmp_path_factory.mktemp("chart")
    subprocess.run([tools.helm_binary(4), "create", "demo"], cwd=where, check=True,
                   capture_output=True, timeout=60)
    return str(where / "demo")


def helm(sim: Sim, major: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    home = os.path.join(os.path.dirname(sim.kubeconfig), f"helm{major}")
    env = {**sim.env, "HELM_CACHE_HOME": home + "/cache", "HELM_CONFIG_HOME": home + "/config",
           "HELM_DATA_HOME": home + "/data"}
    result = subprocess.run([tools.helm_binary(major), *args], env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr}")
    return result


def deployment(sim: Sim, namespace: str, name: str) -> dict:
    return json.loads(kubectl(sim, "-n", namespace, "get", "deploy", name, "-o", "json").stdout)


@pytest.mark.parametrize("major", HELM)
def test_install_upgrade_rollback_test_uninstall(sim, chart, major):
    ns = f"h{major}"
    assert tools.helm_version(tools.helm_binary(major)).startswith(f"v{major}.")
    # the unmodified `helm create` chart, ServiceAccount and all (how fast it becomes
    # ready is measured by hand and in bench.kapi, not asserted here)
    helm(sim, major, "install", "web", chart, "-n", ns, "--create-namespace", "--wait",
         "--timeout", "60s")
    d = deployment(sim, ns, "web-demo")
    assert d["status"]["readyReplicas"] == 1
    helm(sim, major, "upgrade", "web", chart, "-n", ns, "--wait", "--timeout", "60s",
         "--set", "replicaCount=3", "--set", "image.tag=1.27")
    d = deployment(sim, ns, "web-demo")
    assert d["status"]["availableReplicas"] == 3 and d["status"]["updatedReplicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    helm(sim, major, "rollback", "web", "1", "-n", ns, "--wait", "--timeout", "60s")
    d = deployment(sim, ns, "web-demo")
    assert d["status"]["availableReplicas"] == 1
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    out = helm(sim, major, "test", "web", "-n", ns, "--timeout", "60s").stdout
    assert "Phase:          Succeeded" in out
    helm(sim, major, "uninstall", "web", "-n", ns, "--wait", "--timeout", "60s")

    def gone() -> bool:
        left = kubectl(sim, "-n", ns, "get", "deploy,rs,svc", "-o", "name").stdout
        pods = [p for p in kubectl(sim, "-n", ns, "get", "pods", "-o", "name").stdout.split()
                if "test-connection" not in p]  # hooks outlive a release, as in kube
        return not left.strip() and not pods
    deadline = time.monotonic() + 20
    while not gone():
        assert time.monotonic() < deadline, "the release's objects were not collected"
        time.sleep(0.1)
