"""Placement end to end: ``fedns run`` over real etcd, ``fedns sim`` members with their
controllers, kubectl at the endpoint.  A Placement divides a Deployment 2:1 over two
regions, scaling keeps every replica where it runs, a member whose API is stopped past
the toleration has its replicas moved and the endpoint's Deployment is whole again,
the member back gets nothing back (no rebalanceOnRecovery) and its old copy is
withdrawn; a restarted ``fedns run`` counts the toleration from the Member object's
Ready=False condition, not from its own start; Federation v1's annotations place as v1
did; a bad Placement is a 422."""

from __future__ import annotations

import datetime
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml

from tests.integration import harness as h
from tests.support import procs

SPECS = "umich:us-east:us-east-1,ucsd:us-west:us-west-1,uva:us-east:us-east-2"
MEMBERS = ("umich", "ucsd", "uva")
TOLERATION = 2


def deployment(name: str, replicas: int, annotations: dict[str, str] | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})


PLACEMENT = yaml.safe_dump({
    "apiVersion": "fedns.io/v1alpha1", "kind": "Placement",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "web"}],
             "members": [{"name": "east-west", "regions": ["us-east", "us-west"],
                          "exclude": ["uva"]}],
             "spread": [{"spreadByField": "region", "minGroups": 1}],
             "division": {"type": "Divided", "weights": {"umich": 2, "ucsd": 1}},
             "failover": {"tolerationSeconds": TOLERATION}}})


class Setup:
    """One sim (with a control server to stop a member's API), one replica, kubectl."""

    def __init__(self, etcd: Any, tmp_path: Any) -> None:
        self.kubeconfig = str(tmp_path / "kubeconfig")
        self.control_port = procs.free_port()
        self.sim_log = open(tmp_path / "sim.log", "w+")  # noqa: SIM115
        self.sim = subprocess.Popen(
            h.fedns_cmd("sim", "--members", SPECS, "--kubeconfig", self.kubeconfig,
                        "--control-port", str(self.control_port)),
            stdout=self.sim_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        h.until(lambda: os.path.exists(self.kubeconfig) or self.sim.poll() is not None, 30,
                "sim kubeconfig")
        assert self.sim.poll() is None, "fedns sim exited"
        cert_file, key_file = h.api_certificate(str(tmp_path))
        self.replica = h.Replica(str(tmp_path), "r1", etcd.url, self.kubeconfig, members=SPECS,
                                 tls=(str(cert_file), str(key_file)))
        self.endpoint_config = str(tmp_path / "federation.kubeconfig")
        h.endpoint_kubeconfig(self.endpoint_config, self.replica.api_url, cert_file)
        self.cache = str(tmp_path / "kubecache")

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True
                ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [h.kubectl_binary(), "--kubeconfig", self.endpoint_config, "--cache-dir", self.cache,
             *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def member(self, member: str, *args: str) -> str:
        return subprocess.run(
            [h.kubectl_binary(), "--kubeconfig", self.kubeconfig, "--context", member, *args],
            capture_output=True, text=True, timeout=60, check=False).stdout

    def replicas(self, name: str = "web") -> dict[str, int]:
        found = {}
        for m in MEMBERS:
            out = self.member(m, "get", "deployment", name, "-o", "json", "--ignore-not-found")
            if out.strip():
                found[m] = json.loads(out)["spec"]["replicas"]
        return found

    def ready_row(self, name: str = "web") -> str:
        out = self.kubectl("get", "deployment", name, "--no-headers", check=False).stdout
        return out.split()[1] if out.strip() else ""

    def control(self, path: str) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}", data=b"{}",
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def stop(self) -> None:
        self.replica.kill()
        procs.stop_process(self.sim)
        self.sim_log.close()


@pytest.fixture
def fed(etcd, tmp_path):
    s = Setup(etcd, tmp_path)
    try:
        s.replica.start()
        yield s
    finally:
        s.stop()


def test_a_placement_divides_scales_fails_over_and_does_not_move_back(fed):
    fed.kubectl("apply", "-f", "-", stdin=PLACEMENT)
    fed.kubectl("apply", "-f", "-", stdin=deployment("web", 6))
    h.until(lambda: fed.replicas() == {"umich": 4, "ucsd": 2}, 30, "4/2 over two regions")
    h.until(lambda: fed.ready_row() == "6/6", 30, "6/6 at the endpoint")
    h.until(lambda: "default/web: ucsd=2,umich=4" in fed.kubectl("get", "placements").stdout,
            20, "kubectl get placements shows the decision")

    fed.kubectl("scale", "deployment", "web", "--replicas=9")
    h.until(lambda: fed.replicas() == {"umich": 6, "ucsd": 3}, 30, "9: only the increase moves")
    h.until(lambda: fed.ready_row() == "9/9", 30, "9/9 at the endpoint")

    fed.control("/members/ucsd/stop")
    h.until(lambda: fed.kubectl("get", "clusters", "ucsd", "-o",
                                "jsonpath={.status.ready}").stdout == "false", 30,
            "ucsd NotReady at the endpoint")
    down = time.monotonic()
    h.until(lambda: fed.member("umich", "get", "deployment", "web", "-o",
                               "jsonpath={.spec.replicas}") == "9", TOLERATION + 10,
            "ucsd's replicas moved to umich")
    assert time.monotonic() - down <= TOLERATION + 2, "moved within the toleration plus 2 s"
    h.until(lambda: fed.ready_row() == "9/9", 30, "full availability again at the endpoint")
    described = fed.kubectl("describe", "deployment", "web").stdout
    assert "FailedOver" in described

    fed.control("/members/ucsd/start")
    h.until(lambda: fed.kubectl("get", "clusters", "ucsd", "-o",
                                "jsonpath={.status.ready}").stdout == "true", 30, "ucsd back")
    # its old copy goes (umich runs all 9, ready); nothing moves back without a rebalance
    h.until(lambda: fed.replicas() == {"umich": 9}, 30, "ucsd's old copy withdrawn")
    template = json.loads(fed.kubectl("get", "deployment", "web", "-o", "json").stdout)
    decision = json.loads(template["metadata"]["annotations"]["fedns.io/placement"])
    assert decision["replicas"] == {"umich": 9} and decision["withdrawing"] == {}
    assert fed.replica.metric("fedns_placement_evictions_total") >= 1
    assert fed.replica.metric("fedns_placement_decisions_total") >= 1


RESTART_TOLERATION = 30  # the restarted replica's start (it does not wait for ucsd) fits
DOWN_BEFORE_RESTART = 15  # what a fresh clock would lose: the margin of the check


def ready_condition(fed: Setup, member: str) -> tuple[str, str]:
    """(status, lastTransitionTime) of the member's Ready condition at the endpoint."""
    path = '{.status.conditions[?(@.type=="Ready")]}'
    out = fed.kubectl("get", "member", member, "-o", f"jsonpath={path}").stdout
    found = json.loads(out) if out.strip() else {}
    return str(found.get("status", "")), str(found.get("lastTransitionTime", ""))


def wall_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def test_a_restarted_replica_counts_the_toleration_from_the_stored_condition(fed):
    fed.kubectl("apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "fedns.io/v1alpha1", "kind": "Placement",
        "metadata": {"name": "steady", "namespace": "default"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "steady"}],
                 "members": [{"names": ["umich", "ucsd"]}],
                 "division": {"type": "Divided", "weights": {"umich": 2, "ucsd": 1}},
                 "failover": {"tolerationSeconds": RESTART_TOLERATION}}}))
    fed.kubectl("apply", "-f", "-", stdin=deployment("steady", 3))
    h.until(lambda: fed.replicas("steady") == {"umich": 2, "ucsd": 1}, 30, "2/1")
    h.until(lambda: ready_condition(fed, "ucsd")[0] == "True", 30, "ucsd Ready=True")

    fed.control("/members/ucsd/stop")
    _, since = h.until(lambda: (c := ready_condition(fed, "ucsd"))[0] == "False" and c,
                       30, "ucsd Ready=False at the endpoint")
    down = wall_time(since)
    h.until(lambda: time.time() - down >= DOWN_BEFORE_RESTART, DOWN_BEFORE_RESTART + 5,
            "ucsd down a while")

    fed.replica.kill(signal.SIGTERM)  # a clean stop gives up the lease at once
    restarted = time.time()
    # ready with ucsd down: an unreachable member's caches, which never list, are not
    # waited for (by /readyz, nor by the new leader)
    fed.replica.start()
    # a clock started by the new process could not fail over before restarted + toleration
    h.until(lambda: fed.member("umich", "get", "deployment", "steady", "-o",
                               "jsonpath={.spec.replicas}") == "3",
            restarted + RESTART_TOLERATION - time.time(),
            "ucsd's replica moved before a fresh toleration could end")
    moved = time.time()
    assert moved >= down + RESTART_TOLERATION - 1, "not before the stored toleration ended"
    assert ready_condition(fed, "ucsd") == ("False", since), \
        "the restarted replica kept the condition's lastTransitionTime"


def test_federation_v1_annotations_place_as_v1(fed):
    h.until(lambda: all(m in fed.kubectl("get", "clusters").stdout for m in MEMBERS), 30,
            "members listed")
    for m, where in (("umich", "europe"), ("ucsd", "america"), ("uva", "europe")):
        fed.kubectl("label", "member", m, f"location={where}")
    fed.kubectl("apply", "-f", "-", stdin=deployment("v1web", 8, {
        "federation.alpha.kubernetes.io/cluster-selector":
            '[{"key": "location", "operator": "In", "values": ["europe"]}]',
        "federation.kubernetes.io/deployment-preferences":
            '{"rebalance": false, "clusters": {"umich": {"weight": 3}, "*": {"weight": 1}}}'}))
    h.until(lambda: fed.replicas("v1web") == {"umich": 6, "uva": 2}, 30,
            "europe only, 3:1")


@pytest.mark.parametrize("spec, field", [
    ({"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
      "division": {"type": "Divided", "weights": {"umich": -1}}}, "spec.division.weights.umich"),
    ({"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
      "failover": {"tolerationSeconds": -5}}, "spec.failover.tolerationSeconds"),
], ids=["negative-weight", "negative-toleration"])
def test_a_bad_placement_is_refused_naming_the_field(fed, spec, field):
    bad = yaml.safe_dump({"apiVersion": "fedns.io/v1alpha1", "kind": "Placement",
                          "metadata": {"name": "bad", "namespace": "default"}, "spec": spec})
    result = fed.kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and field in result.stderr, result.stderr
    request = urllib.request.Request(
        f"{fed.replica.api_url}/apis/fedns.io/v1alpha1/namespaces/default/placements",
        data=json.dumps(yaml.safe_load(bad)).encode(), method="POST",
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=fed.replica.ca)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10, context=context)
    assert caught.value.code == 422
    body = json.loads(caught.value.read())
    assert field in [c["field"] for c in body["details"]["causes"]]
