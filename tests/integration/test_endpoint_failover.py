"""The federation endpoint across a leader's death: two ``fedns run`` replicas on one
etcd, a burst of applies at the endpoint while the leader is SIGKILLed; afterwards every
member holds exactly the copies of the templates (none lost, none extra, replicas
divided, one ReplicaSet per Deployment) and every template carries the finalizer once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from typing import Any

import yaml

from tests.integration import harness as h

MEMBERS = ("umich", "uva", "ucsd")
COUNT = 30  # templates: half Deployments, half ConfigMaps


def template(i: int) -> dict[str, Any]:
    if i % 2:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i}", "namespace": "default"}, "data": {"i": str(i)}}
    labels = {"app": f"dep-{i}"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"dep-{i}", "namespace": "default"},
            "spec": {"replicas": i % 7 + 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}


def managed(sim: h.Sim, member: str, kind: str) -> dict[str, dict[str, Any]]:
    out = sim.kubectl(member, "-n", "default", "get", kind, "-o", "json",
                      "-l", "app.kubernetes.io/managed-by=fedns")
    return {o["metadata"]["name"]: o for o in json.loads(out)["items"]}


def test_leader_killed_during_a_burst_of_applies(etcd, tmp_path):
    sim = h.Sim(str(tmp_path))
    ca, key = h.api_certificate(str(tmp_path))
    replicas = [h.Replica(str(tmp_path), f"r{i}", etcd.url, sim.kubeconfig,
                          tls=(str(ca), str(key))) for i in (1, 2)]
    try:
        for r in replicas:
            r.start()
        leader = h.until(lambda: [r for r in replicas if r.leading()], 30, "a leader")[0]
        other = next(r for r in replicas if r is not leader)
        # the applies go to the survivor's API: the endpoint is the shared Store
        config = h.endpoint_kubeconfig(str(tmp_path / "fed.kubeconfig"), other.api_url, str(ca))

        def apply(i: int) -> None:
            subprocess.run([h.kubectl_binary(), "--kubeconfig", config, "--cache-dir",
                            str(tmp_path / "cache"), "apply", "-f", "-"],
                           input=yaml.safe_dump(template(i)), capture_output=True, text=True,
                           timeout=60, check=True)

        killer: threading.Thread | None = None
        for i in range(COUNT):
            apply(i)
            if i == COUNT // 3:
                # SIGKILL mid-burst, while the leader is copying what came before
                killer = threading.Thread(target=leader.kill, args=(signal.SIGKILL,))
                killer.start()
        assert killer is not None
        killer.join()
        h.until(other.leading, 30, "the survivor leads")

        deployments = {f"dep-{i}": i % 7 + 1 for i in range(0, COUNT, 2)}
        configmaps = {f"cm-{i}" for i in range(1, COUNT, 2)}

        def converged() -> bool:
            shares: dict[str, list[int]] = {name: [] for name in deployments}
            for m in MEMBERS:
                deps = managed(sim, m, "deployments")
                if not set(deps) <= set(deployments) or \
                        set(managed(sim, m, "configmaps")) != configmaps:
                    return False
                for name in deployments:  # a member whose share is 0 gets no copy
                    shares[name].append(deps[name]["spec"]["replicas"] if name in deps else 0)
            # each member its share: the total, split evenly (at most one apart)
            return all(sum(s) == deployments[n] and max(s) - min(s) <= 1
                       for n, s in shares.items())
        h.until(converged, 90, "exactly the templates' copies in every member")

        for m in MEMBERS:
            sets = json.loads(sim.kubectl(m, "-n", "default", "get", "replicasets", "-o",
                                          "json"))["items"]
            owners = sorted(rs["metadata"]["ownerReferences"][0]["name"] for rs in sets)
            assert owners == sorted(managed(sim, m, "deployments")), \
                f"{m}: one ReplicaSet per Deployment"
            for name, d in managed(sim, m, "deployments").items():
                assert d["metadata"]["annotations"]["fedns.io/template-generation"] == "1", name
        out = subprocess.run([h.kubectl_binary(), "--kubeconfig", config, "--cache-dir",
                              str(tmp_path / "cache"), "-n", "default", "get",
                              "deployments,configmaps", "-o", "json"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        for t in json.loads(out)["items"]:
            if t["metadata"]["name"] == "kube-root-ca.crt":
                continue
            assert t["metadata"].get("finalizers") == ["fedns.io/propagation"], \
                t["metadata"]["name"]
    finally:
        for r in replicas:
            r.kill()
        sim.stop()
