"""Members that behave like clusters, under ``fedns run`` (real etcd, ``fedns sim``,
kubectl, dig): a Deployment and a LoadBalancer Service, with no hand-written
EndpointSlice, resolve in DNS; scaled to 0, the name is withdrawn."""

from __future__ import annotations

import yaml

from tests.integration import harness as h

APP = yaml.safe_dump_all([
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "shop", "namespace": "default"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "shop"}},
              "template": {"metadata": {"labels": {"app": "shop"}},
                           "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                    "ports": [{"name": "http",
                                                               "containerPort": 8080}]}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "default"},
     "spec": {"type": "LoadBalancer", "selector": {"app": "shop"},
              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
])


def name(*tier: str) -> str:
    return ".".join(["shop", "default", h.FEDERATION, "svc", *tier, h.DOMAIN])


def test_a_deployment_and_its_service_resolve_with_no_hand_written_slice(fresh_etcd, tmp_path):
    sim = h.Sim(str(tmp_path))
    replica = h.Replica(str(tmp_path), "r1", fresh_etcd.url, sim.kubeconfig)
    try:
        replica.start()
        sim.kubectl("umich", "apply", "-f", "-", stdin=APP)
        sim.kubectl("umich", "rollout", "status", "deployment/shop", "--timeout=60s")
        ip = h.until(lambda: h.ingress_ip(sim, "umich", "shop"), 10, "umich address")
        h.until(lambda: replica.dig(name()) == [f"A {ip}"], 10, "the name answers")
        assert replica.dig(name("us-east-1", "us-east")) == [f"A {ip}"]
        slices = sim.kubectl("umich", "get", "endpointslices", "-l",
                             "kubernetes.io/service-name=shop", "-o", "name")
        assert slices.strip(), "the member's controller made the slice"

        sim.kubectl("umich", "scale", "deployment/shop", "--replicas=0")
        h.until(lambda: replica.rcode(name()) == "NXDOMAIN", 10, "withdrawn at 0 replicas")
        sim.kubectl("umich", "scale", "deployment/shop", "--replicas=1")
        h.until(lambda: replica.dig(name()) == [f"A {ip}"], 10, "back at 1 replica")
    finally:
        replica.kill()
        sim.stop()
