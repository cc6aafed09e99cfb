"""Real kubectl 1.37 against ``fedns sim`` as a process: rollouts, waits, undo,
unschedulable Pods, cascading deletes, EndpointSlices of a LoadBalancer Service, and
trouble made through the sim's control server."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from tests.sim.test_kubectl import TOKEN, Sim, kubectl, table

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: "nginx:1.25", ports: [{name: http, containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    running = Sim(str(tmp_path_factory.mktemp("sim")), "alpha:us-east:us-east-1a")
    try:
        running.wait_kubeconfig()
        yield running
    finally:
        running.stop()


def until(check: Callable[[], object], what: str, timeout: float = 20) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(0.05)


def ready_endpoints(sim: Sim, namespace: str, service: str) -> list[dict]:
    slices = json.loads(kubectl(sim, "-n", namespace, "get", "endpointslices", "-l",
                                f"kubernetes.io/service-name={service}", "-o",
                                "json").stdout)["items"]
    return [e for s in slices for e in s.get("endpoints") or [] if e["conditions"]["ready"]]


def control(sim: Sim, path: str, body: dict | None = None) -> dict:
    (url,) = re.findall(r"^control: (\S+)$", sim.output(), flags=re.MULTILINE)
    request = urllib.request.Request(url + path, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {TOKEN}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_rollout_status_wait_history_undo_and_endpoints(sim):
    ns = "roll"
    kubectl(sim, "create", "namespace", ns)
    kubectl(sim, "-n", ns, "apply", "-f", "-", stdin=APP)
    out = kubectl(sim, "-n", ns, "rollout", "status", "deploy/web", "--timeout=30s").stdout
    assert 'deployment "web" successfully rolled out' in out
    out = kubectl(sim, "-n", ns, "wait", "--for=condition=Available", "deploy/web",
                  "--timeout=30s").stdout
    assert "deployment.apps/web condition met" in out
    until(lambda: len(ready_endpoints(sim, ns, "web")) == 3, "3 ready endpoints")
    endpoint = ready_endpoints(sim, ns, "web")[0]
    assert endpoint["zone"] == "us-east-1a" and endpoint["addresses"][0].startswith("10.244.")
    kubectl(sim, "-n", ns, "set", "image", "deploy/web", "c=nginx:1.26")
    kubectl(sim, "-n", ns, "rollout", "status", "deploy/web", "--timeout=30s")
    header, rows = table(kubectl(sim, "-n", ns, "rollout", "history", "deploy/web").stdout
                         .split("\n", 1)[1])
    assert header == ["REVISION", "CHANGE-CAUSE"] and [r[0] for r in rows] == ["1", "2"]
    kubectl(sim, "-n", ns, "rollout", "undo", "deploy/web")
    kubectl(sim, "-n", ns, "rollout", "status", "deploy/web", "--timeout=30s")
    image = kubectl(sim, "-n", ns, "get", "deploy", "web", "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx:1.25"
    header, rows = table(kubectl(sim, "-n", ns, "get", "rs").stdout)
    assert sorted(r[1] for r in rows) == ["0", "3"]  # DESIRED: the old one scaled to 0
    until(lambda: kubectl(sim, "-n", ns, "get", "pods", "-o",
                          "jsonpath={.items[*].spec.containers[0].image}").stdout.split()
          == ["nginx:1.25"] * 3, "only nginx:1.25 Pods")
    # scaled to 0: the Service keeps a slice but no ready endpoint
    kubectl(sim, "-n", ns, "patch", "deploy", "web", "-p", '{"spec":{"replicas":0}}')
    until(lambda: not ready_endpoints(sim, ns, "web"), "no ready endpoints")
    kubectl(sim, "-n", ns, "delete", "deploy", "web")
    until(lambda: not kubectl(sim, "-n", ns, "get", "rs,pods", "-o", "name").stdout.strip(),
          "ReplicaSets and Pods collected")


def test_pods_beyond_capacity_stay_pending(sim):
    huge = APP.split("---")[0].replace("name: web", "name: huge").replace(
        "app: web", "app: huge").replace(
        "ports: [{name: http, containerPort: 8080}]}",
        "resources: {requests: {cpu: '3'}}}")
    kubectl(sim, "apply", "-f", "-", stdin=huge)

    def pending() -> list[list[str]] | None:
        _, rows = table(kubectl(sim, "get", "pods", "-l", "app=huge").stdout or "NAME\n")
        return rows if len(rows) == 3 and all(r[2] == "Pending" for r in rows) else None
    rows = until(pending, "3 Pending Pods")
    assert isinstance(rows, list)
    reason = kubectl(sim, "get", "pod", rows[0][0], "-o",
                     "jsonpath={.status.conditions[?(@.type=='PodScheduled')].reason}").stdout
    assert reason == "Unschedulable"
    out = kubectl(sim, "rollout", "status", "deploy/huge", "--timeout=1s", check=False)
    assert out.returncode != 0  # never available
    kubectl(sim, "delete", "deploy", "huge")


def test_control_server_makes_trouble(sim):
    kubectl(sim, "create", "namespace", "trouble")
    kubectl(sim, "-n", "trouble", "apply", "-f", "-", stdin=APP)
    kubectl(sim, "-n", "trouble", "rollout", "status", "deploy/web", "--timeout=30s")
    until(lambda: len(ready_endpoints(sim, "trouble", "web")) == 3, "3 ready endpoints")
    assert control(sim, "/members")["members"][0]["running"] is True
    control(sim, "/members/alpha/nodes/alpha-worker/ready", {"ready": False})
    _, rows = table(kubectl(sim, "get", "nodes").stdout)
    assert {r[0]: r[1] for r in rows}["alpha-worker"] == "NotReady"
    until(lambda: all(e["nodeName"] == "alpha-control-plane"
                      for e in ready_endpoints(sim, "trouble", "web")),
          "endpoints on the NotReady node not ready")
    control(sim, "/members/alpha/nodes/alpha-worker/ready", {"ready": True})
    until(lambda: len(ready_endpoints(sim, "trouble", "web")) == 3, "all ready again")
    pod = kubectl(sim, "-n", "trouble", "get", "pods", "-o",
                  "jsonpath={.items[0].metadata.name}").stdout
    control(sim, f"/members/alpha/namespaces/trouble/pods/{pod}/ready", {"ready": False})
    until(lambda: len(ready_endpoints(sim, "trouble", "web")) == 2, "one endpoint not ready")
    control(sim, f"/members/alpha/namespaces/trouble/pods/{pod}/fail", {})
    until(lambda: kubectl(sim, "-n", "trouble", "get", "pod", pod, "-o",
                          "jsonpath={.status.phase}").stdout == "Failed", "Pod Failed")
    kubectl(sim, "-n", "trouble", "rollout", "status", "deploy/web", "--timeout=30s")
    control(sim, "/members/alpha/nodes/alpha-worker/capacity", {"pods": "4"})
    allocatable = kubectl(sim, "get", "node", "alpha-worker", "-o",
                          "jsonpath={.status.allocatable.pods}").stdout
    assert allocatable == "4"
    assert control(sim, "/members/alpha/stop", {})["running"] is False
    assert kubectl(sim, "get", "nodes", "--request-timeout=3s", check=False).returncode != 0
    assert control(sim, "/members/alpha/start", {})["running"] is True
    kubectl(sim, "get", "nodes")
    with pytest.raises(urllib.error.HTTPError) as err:
        control(sim, "/members/nowhere/stop", {})
    assert err.value.code == 404
