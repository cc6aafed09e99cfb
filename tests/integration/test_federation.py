"""The federation endpoint end to end: kubectl against ``fedns run`` (real etcd) posts a
Deployment and a LoadBalancer Service once; ``fedns sim`` members get their copies,
the Service enters the centerpiece (addresses from each site's pool, dig at every
tier), member status comes back, a stopped member waits and catches up, and deleting
the templates removes every copy."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import Any

import pytest
import yaml

from tests.integration import harness as h
from tests.support import tools

SPECS = "umich:us-east:us-east-1,ucsd:us-west:us-west-1"
MEMBERS = ("umich", "ucsd", "uva")
APP = yaml.safe_dump_all([
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "web", "namespace": "default"},
     "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
     "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
])


class Federation:
    """Two sims (uva alone, so it can be stopped), one replica, and kubectl for the
    endpoint through a kubeconfig context of its own."""

    def __init__(self, etcd: Any, tmp_path: Any) -> None:
        (tmp_path / "lone").mkdir()
        self.lone = h.Sim(str(tmp_path / "lone"), "uva:us-east:us-east-2")
        self.main = h.Sim(str(tmp_path), SPECS)
        self.kubeconfig = str(tmp_path / "all.kubeconfig")
        merged = subprocess.run([h.kubectl_binary(), "config", "view", "--flatten"],
                                env={"KUBECONFIG": f"{self.main.kubeconfig}:{self.lone.kubeconfig}"},
                                capture_output=True, text=True, check=True).stdout
        with open(self.kubeconfig, "w") as f:
            f.write(merged)
        # kubectl sends its bearer token only over HTTPS
        cert_file, key_file = h.api_certificate(str(tmp_path))
        self.replica = h.Replica(str(tmp_path), "r1", etcd.url, self.kubeconfig,
                                 members=SPECS + ",uva:us-east:us-east-2",
                                 tls=(str(cert_file), str(key_file)))
        self.endpoint_config = str(tmp_path / "federation.kubeconfig")
        h.endpoint_kubeconfig(self.endpoint_config, self.replica.api_url, cert_file)
        self.cache = str(tmp_path / "kubecache")

    def sim(self, member: str) -> h.Sim:
        return self.lone if member == "uva" else self.main

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [h.kubectl_binary(), "--kubeconfig", self.endpoint_config, "--cache-dir", self.cache,
             *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def template(self, kind: str, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", kind, name, "-o", "json"))

    def copy(self, member: str, kind: str, name: str) -> dict[str, Any] | None:
        out = self.sim(member).kubectl(member, "get", kind, name, "-o", "json", "--ignore-not-found")
        return json.loads(out) if out.strip() else None

    def replicas(self) -> dict[str, int | None]:
        found = {}
        for m in MEMBERS:
            copy = self.copy(m, "deployment", "web")
            found[m] = copy["spec"]["replicas"] if copy else None
        return found

    def outcomes(self, kind: str, name: str) -> dict[str, str]:
        notes = self.template(kind, name)["metadata"].get("annotations") or {}
        return {m: o["state"] for m, o in json.loads(notes.get("fedns.io/members", "{}")).items()}

    def stop(self) -> None:
        self.replica.kill()
        self.main.stop()
        self.lone.stop()


@pytest.fixture
def fed(etcd, tmp_path):
    f = Federation(etcd, tmp_path)
    try:
        f.replica.start()
        yield f
    finally:
        f.stop()


def name(service: str, *tier: str) -> str:
    return ".".join([service, "default", h.FEDERATION, "svc", *tier, h.DOMAIN])


def test_the_endpoint_serves_templates_and_clusters(fed):
    for listing in ("clusters", "members"):
        # written by the leader's status controller, once there is a leader
        h.until(lambda listing=listing: all(m in fed.kubectl("get", listing) for m in MEMBERS),
                20, f"every member in kubectl get {listing}")
    kinds = fed.kubectl("api-resources", "-o", "name").split()
    for resource in ("namespaces", "configmaps", "secrets", "deployments.apps",
                     "replicasets.apps", "daemonsets.apps", "jobs.batch", "services", "events",
                     "horizontalpodautoscalers.autoscaling", "ingresses.networking.k8s.io",
                     "members.fedns.io"):
        assert resource in kinds
    assert "default" in fed.kubectl("get", "namespaces")


def pod(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default",
                                        "labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})


def test_pods_of_every_member_are_listed_read_only(fed):
    for m in ("umich", "uva"):
        fed.sim(m).kubectl(m, "apply", "-f", "-", stdin=pod(f"web-{m}"))
    fed.sim("ucsd").kubectl("ucsd", "apply", "-f", "-", stdin=pod("web-umich"))  # same name

    def rows() -> list[list[str]]:
        return [line.split() for line in fed.kubectl("get", "pods", "-l", "app=web")
                .splitlines()]
    h.until(lambda: len(rows()) == 4, 15, "three pods listed")
    table = rows()
    assert table[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "MEMBER"]
    assert [(r[0], r[5]) for r in table[1:]] == [
        ("web-umich", "ucsd"), ("web-umich", "umich"), ("web-uva", "uva")]
    one = json.loads(fed.kubectl("get", "pod", "web-uva", "-o", "json"))
    assert one["metadata"]["annotations"]["fedns.io/member"] == "uva"
    assert fed.kubectl("get", "pods", "-A", "-l", "app=none") == ""
    refused = subprocess.run(
        [h.kubectl_binary(), "--kubeconfig", fed.endpoint_config, "--cache-dir", fed.cache,
         "delete", "pod", "web-uva"], capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr, refused.stderr
    assert fed.copy("uva", "pod", "web-uva") is not None


def test_apply_once_runs_everywhere_and_reports_back(fed):
    fed.kubectl("apply", "-f", "-", stdin=APP)
    h.until(lambda: fed.replicas() == {"umich": 2, "ucsd": 2, "uva": 2}, 30,
            "two replicas in each member")
    copy = fed.copy("umich", "deployment", "web")
    assert copy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fedns"
    assert copy["metadata"]["annotations"]["fedns.io/template-generation"] == "1"
    h.until(lambda: fed.outcomes("deployment", "web") == dict.fromkeys(MEMBERS, "Applied"),
            15, "every member Applied")

    # the Service enters the centerpiece in every member (the members' EndpointSlices
    # are their own controllers'): pool addresses, DNS at every tier
    ips = {m: h.until(lambda m=m: h.ingress_ip(fed.sim(m), m, "web"), 20, f"{m} address")
           for m in MEMBERS}
    every = sorted(f"A {ip}" for ip in ips.values())
    h.until(lambda: fed.replica.dig(name("web")) == every, 15, "global name answers all")
    assert fed.replica.dig(name("web", "us-west-1", "us-west")) == [f"A {ips['ucsd']}"]
    assert fed.replica.dig(name("web", "us-east-1", "us-east")) == [f"A {ips['umich']}"]
    assert fed.replica.dig(name("web", "us-east-2", "us-east")) == [f"A {ips['uva']}"]
    assert fed.replica.dig(name("web", "us-east")) == sorted(
        [f"A {ips['umich']}", f"A {ips['uva']}"])
    h.until(lambda: sorted(i["ip"] for i in fed.template("service", "web")["status"]
                           .get("loadBalancer", {}).get("ingress", [])) == sorted(ips.values()),
            15, "the endpoint's Service lists every member's address")

    # the members' controllers report; the endpoint shows their sum
    def summed() -> bool:
        status = fed.template("deployment", "web").get("status") or {}
        return status.get("readyReplicas") == 6 and status.get("observedGeneration") == 1
    h.until(summed, 15, "status summed at the endpoint")
    row = fed.kubectl("get", "deployment", "web", "--no-headers").split()
    assert row[:2] == ["web", "6/6"], row
    fed.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert "Propagated" in fed.kubectl("describe", "deployment", "web")

    # a stopped member (within the default toleration of 300 s): it keeps its replicas,
    # the increase goes to the reachable members, nothing of it is deleted
    fed.lone.proc.send_signal(signal.SIGSTOP)
    try:
        h.until(lambda: fed.kubectl("get", "clusters", "uva", "-o",
                                    "jsonpath={.status.ready}") == "false", 20, "uva NotReady")
        fed.kubectl("patch", "deployment", "web", "--type=merge", "-p",
                    '{"spec":{"replicas":9}}')
        h.until(lambda: sorted([fed.copy("umich", "deployment", "web")["spec"]["replicas"],
                                fed.copy("ucsd", "deployment", "web")["spec"]["replicas"]])
                == [3, 4], 20, "the reachable members get the increase")
        h.until(lambda: fed.outcomes("deployment", "web")["uva"] == "Unreachable", 10,
                "uva reported Unreachable")
        assert fed.template("deployment", "web")["status"]["observedGeneration"] == 1
    finally:
        fed.lone.proc.send_signal(signal.SIGCONT)
    # without a Placement the split is re-divided evenly once uva is back
    h.until(lambda: fed.replicas() == {"umich": 3, "ucsd": 3, "uva": 3}, 30, "uva caught up")
    assert h.ingress_ip(fed.lone, "uva", "web") == ips["uva"], "uva's Service was left alone"
    # a copy edited in its member is set back to the template
    fed.main.kubectl("umich", "set", "image", "deployment/web", "web=nginx:edited")

    def image() -> str:
        copy = fed.copy("umich", "deployment", "web")
        return str(copy["spec"]["template"]["spec"]["containers"][0]["image"])
    h.until(lambda: image() == "nginx:1.27", 15, "umich's edit undone")
    h.until(lambda: fed.template("deployment", "web")["status"].get("observedGeneration") == 2,
            15, "observedGeneration advanced once every member caught up")

    # deleting the templates removes every copy, and the service from DNS
    fed.kubectl("delete", "-f", "-", "--timeout=60s", stdin=APP)
    h.until(lambda: all(fed.copy(m, "deployment", "web") is None and
                        fed.copy(m, "service", "web") is None for m in MEMBERS), 30,
            "copies deleted from every member")
    assert fed.kubectl("get", "deployment,service", "--ignore-not-found", "-o", "name") == ""
    h.until(lambda: fed.replica.rcode(name("web")) == "NXDOMAIN", 15, "withdrawn from DNS")


def test_an_unmanaged_object_is_a_conflict_and_helm_releases_stay(fed):
    fed.main.kubectl("ucsd", "create", "configmap", "settings", "--from-literal=a=mine")
    fed.kubectl("create", "configmap", "settings", "--from-literal=a=federated")
    fed.kubectl("create", "secret", "generic", "sh.helm.release.v1.web.v1", "--type",
                "helm.sh/release.v1", "--from-literal=release=x")
    h.until(lambda: fed.outcomes("configmap", "settings") == {
        "umich": "Applied", "ucsd": "Conflict", "uva": "Applied"}, 20, "ucsd's is a conflict")
    assert fed.copy("ucsd", "configmap", "settings")["data"] == {"a": "mine"}
    assert fed.copy("umich", "configmap", "settings")["data"] == {"a": "federated"}
    assert "PropagationConflict" in fed.kubectl("describe", "configmap", "settings")
    assert all(fed.copy(m, "secret", "sh.helm.release.v1.web.v1") is None for m in MEMBERS)
    fed.kubectl("delete", "configmap", "settings")
    h.until(lambda: fed.copy("umich", "configmap", "settings") is None, 20, "copy deleted")
    assert fed.copy("ucsd", "configmap", "settings")["data"] == {"a": "mine"}, \
        "what fedns did not create is not deleted"


@pytest.mark.parametrize("major", [pytest.param(3, id="helm3"), pytest.param(4, id="helm4")])
def test_helm_installs_a_chart_into_the_whole_federation(fed, tmp_path, major):
    """The stock ``helm create`` chart at the endpoint: every member runs its share, the
    release stays at the endpoint, and uninstalling removes every copy.  Both wait:
    Helm 4 on the summed status, Helm 3 on the endpoint's ReplicaSet of the Deployment
    (owned by it, its template, the members' ready Pods summed)."""
    subprocess.run([tools.helm_binary(4), "create", "demo"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    env = {"KUBECONFIG": fed.endpoint_config, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "HELM_CACHE_HOME": str(tmp_path / "cache"), "HELM_CONFIG_HOME": str(tmp_path / "config"),
           "HELM_DATA_HOME": str(tmp_path / "data")}

    def helm(*args: str) -> str:
        result = subprocess.run([tools.helm_binary(major), *args], env=env, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
        return result.stdout

    helm("install", "web", str(tmp_path / "demo"), "-n", "team", "--create-namespace",
         "--set", "replicaCount=3", "--wait", "--timeout", "60s")
    # what --wait waited for: the endpoint's ReplicaSet, all 3 ready, never propagated
    deploy = json.loads(fed.kubectl("-n", "team", "get", "deploy", "web-demo", "-o", "json"))
    sets = json.loads(fed.kubectl("-n", "team", "get", "rs", "-o", "json"))["items"]
    assert len(sets) == 1, sets
    rs = sets[0]
    assert rs["metadata"]["name"].startswith("web-demo-")
    assert rs["metadata"]["ownerReferences"][0]["uid"] == deploy["metadata"]["uid"]
    assert rs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fedns"
    h.until(lambda: json.loads(fed.kubectl("-n", "team", "get", "rs", rs["metadata"]["name"],
                                           "-o", "json"))["status"].get("readyReplicas") == 3,
            30, "the endpoint's ReplicaSet sums the members' ready replicas")
    for m in MEMBERS:
        assert fed.sim(m).kubectl(m, "-n", "team", "get", "rs", rs["metadata"]["name"],
                                  "--ignore-not-found") == "", f"{m}: not propagated"

    def shares() -> dict[str, int | None]:
        found = {}
        for m in MEMBERS:
            out = fed.sim(m).kubectl(m, "-n", "team", "get", "deploy", "web-demo", "-o", "json",
                                     "--ignore-not-found")
            found[m] = json.loads(out)["spec"]["replicas"] if out.strip() else None
        return found
    h.until(lambda: shares() == dict.fromkeys(MEMBERS, 1), 30, "one replica in each member")
    h.until(lambda: fed.kubectl("-n", "team", "get", "deploy", "web-demo", "--no-headers")
            .split()[1] == "3/3", 30, "3/3 at the endpoint")
    for m in MEMBERS:
        names = fed.sim(m).kubectl(m, "-n", "team", "get", "secrets,serviceaccounts", "-o", "name")
        assert "serviceaccount/web-demo" in names and "sh.helm.release" not in names
    assert "deployed" in helm("list", "-n", "team")
    helm("uninstall", "web", "-n", "team", "--wait")
    h.until(lambda: shares() == dict.fromkeys(MEMBERS), 30, "copies removed from every member")
    h.until(lambda: fed.kubectl("-n", "team", "get", "rs", "-o", "name") == "", 30,
            "the endpoint's ReplicaSet removed with its Deployment")


def test_an_override_changes_one_member_only_and_identity_changes_are_refused(fed):
    fed.kubectl("apply", "-f", "-", stdin=APP)
    h.until(lambda: all(fed.copy(m, "deployment", "web") for m in MEMBERS), 30,
            "copies in every member")
    overriding = yaml.safe_dump({
        "apiVersion": "fedns.io/v1alpha1", "kind": "Override",
        "metadata": {"name": "umich-registry", "namespace": "default"},
        "spec": {"resourceSelector": {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": "web"},
                 "rules": [{"members": ["umich"], "patches": [
                     {"op": "replace", "path": "/spec/template/spec/containers/0/image",
                      "value": "registry.umich.example/nginx:1.27"}]}]}})
    fed.kubectl("apply", "-f", "-", stdin=overriding)

    def image(member: str) -> str:
        copy = fed.copy(member, "deployment", "web") or {}
        return copy.get("spec", {}).get("template", {}).get("spec", {}).get(
            "containers", [{}])[0].get("image", "")

    h.until(lambda: image("umich") == "registry.umich.example/nginx:1.27", 20,
            "umich's copy overridden")
    assert image("ucsd") == image("uva") == "nginx:1.27"
    # the override goes: umich is back to the template
    fed.kubectl("delete", "override", "umich-registry")
    h.until(lambda: image("umich") == "nginx:1.27", 20, "umich back to the template")

    identity = overriding.replace("/spec/template/spec/containers/0/image", "/metadata/name")
    refused = subprocess.run(
        [h.kubectl_binary(), "--kubeconfig", fed.endpoint_config, "--cache-dir", fed.cache,
         "apply", "-f", "-"], input=identity, capture_output=True, text=True, timeout=60,
        check=False)
    assert refused.returncode != 0
    assert "spec.rules[0].patches[0].path" in refused.stderr and "identity" in refused.stderr
