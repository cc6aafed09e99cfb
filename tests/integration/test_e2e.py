"""End to end with real etcd, ``fedns sim`` members, ``fedns run``, kubectl and dig."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from fedns.sim import tls
from tests.integration import harness as h
from tests.support import procs


@pytest.fixture
def world(etcd, tmp_path):
    sim = h.Sim(str(tmp_path))
    replica = h.Replica(str(tmp_path), "r1", etcd.url, sim.kubeconfig)
    try:
        replica.start()
        yield sim, replica, etcd
    finally:
        replica.kill()
        sim.stop()


def name(service: str, *tier: str) -> str:
    return ".".join([service, "default", h.FEDERATION, "svc", *tier, h.DOMAIN])


def test_kubectl_apply_to_dig(world):
    sim, replica, etcd = world
    for member in ("umich", "ucsd"):
        sim.kubectl(member, "apply", "-f", "-", stdin=h.service_manifest("web"))
    ips = {m: h.until(lambda m=m: h.ingress_ip(sim, m, "web"), 10, f"{m} ingress IP")
           for m in ("umich", "ucsd")}
    assert ipaddress.ip_address(ips["umich"]) in ipaddress.ip_network("192.0.2.0/25")
    assert ipaddress.ip_address(ips["ucsd"]) in ipaddress.ip_network("198.51.100.0/24")

    both = sorted(f"A {ip}" for ip in ips.values())
    h.until(lambda: replica.dig(name("web")) == both, 5, "global name answers both")
    assert replica.dig(name("web", "us-east-1", "us-east")) == [f"A {ips['umich']}"]
    assert replica.dig(name("web", "us-west-1", "us-west")) == [f"A {ips['ucsd']}"]
    # uva's zone has no copy: CNAME to the region, which has umich's
    assert replica.dig(name("web", "us-east-2", "us-east")) == [
        f"A {ips['umich']}", f"CNAME {name('web', 'us-east')}."]
    assert replica.dig("_http._tcp." + name("web"), "SRV") == sorted(
        f"SRV 10 50 80 {ip.replace('.', '-')}.{m}._http._tcp.{name('web')}."
        for m, ip in ips.items())
    events = sim.kubectl("umich", "get", "events", "-o", "json")
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert "IPAllocated" in reasons

    # the ucsd copy loses its ready endpoints: withdrawn within 2 s
    sim.kubectl("ucsd", "patch", "endpointslice", "web-abc", "--type=json", "-p",
                '[{"op":"replace","path":"/endpoints/0/conditions/ready","value":false}]')
    took = h.elapsed_until(lambda: replica.dig(name("web")) == [f"A {ips['umich']}"], 5,
                           "ucsd withdrawn")
    assert took < 2.0
    assert replica.dig(name("web", "us-west-1", "us-west")) == [
        f"A {ips['umich']}", f"CNAME {name('web')}.", f"CNAME {name('web', 'us-west')}."]

    # deleting it everywhere leaves no key behind, and the addresses go back
    for member in ("umich", "ucsd"):
        sim.kubectl(member, "delete", "-f", "-", stdin=h.service_manifest("web"))
    h.until(lambda: replica.rcode(name("web")) == "NXDOMAIN", 5, "withdrawn")
    endpoint = etcd.members[0].endpoint
    h.until(lambda: not h.etcd_keys(endpoint, "/skydns/"), 5, "no record key left")
    h.until(lambda: not h.etcd_keys(endpoint, "/fedns/ipam/addrs/"), 5, "addresses released")
    assert not h.etcd_keys(endpoint, "/fedns/ipam/owners/")


def test_allocation_failure_is_an_event_kubectl_describe_shows(world):
    sim, replica, _ = world
    manifest = h.service_manifest("pinned").replace(
        "type: LoadBalancer", "type: LoadBalancer\n  loadBalancerIP: 203.0.113.7")
    sim.kubectl("uva", "apply", "-f", "-", stdin=manifest)
    h.until(lambda: "AllocationFailed" in sim.kubectl("uva", "describe", "svc", "pinned"), 10,
            "AllocationFailed event")
    described = sim.kubectl("uva", "describe", "svc", "pinned")
    assert "requested_ip_outside_pools" in described
    assert h.ingress_ip(sim, "uva", "pinned") == ""


def test_api_serves_fedns_objects_to_kubectl_and_needs_the_token_to_write(world):
    sim, replica, _ = world
    server = f"http://127.0.0.1:{replica.api_port}"
    kubectl = [h.kubectl_binary(), "--server", server]
    h.until(lambda: "umich-v4" in subprocess.run(kubectl + ["get", "ippools"], capture_output=True,
                                                text=True).stdout, 10, "ippools published")
    out = subprocess.run(kubectl + ["get", "ippools"], capture_output=True, text=True).stdout
    assert out.split("\n")[0].split() == ["NAME", "SITE", "ADDRESSES", "CAPACITY", "USED", "FREE",
                                          "STATE", "AGE"]
    assert "ucsd-v4" in out and "256" in out
    members = subprocess.run(kubectl + ["get", "members"], capture_output=True, text=True).stdout
    assert "umich" in members and "us-east-1" in members
    req = urllib.request.Request(f"{server}/apis/fedns.io/v1alpha1/ippools", method="POST",
                                 data=b'{"apiVersion":"fedns.io/v1alpha1","kind":"IPPool",'
                                      b'"metadata":{"name":"x"},"spec":{}}',
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 401
    status = subprocess.run(h.fedns_cmd("status", "--api", server), capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 0 and "POOLS" in status.stdout and "umich-v4" in status.stdout


def test_a_member_without_topology_is_left_out_not_fatal(etcd, tmp_path):
    # Nodes without zone labels and no zone in the config: that member's copies are
    # not published, every other member's are
    sim = h.Sim(str(tmp_path), "umich:us-east:us-east-1,bare:r:z")
    sim.kubectl("bare", "label", "nodes", "--all", "topology.kubernetes.io/zone-",
                "failure-domain.beta.kubernetes.io/zone-")
    replica = h.Replica(str(tmp_path), "r1", etcd.url, sim.kubeconfig,
                        members="umich:us-east:us-east-1,bare:r:z",
                        extra={"pools": h.POOLS[:1] + [{"name": "bare-v4", "site": "bare",
                                                        "addresses": ["203.0.113.0/28"]}]})
    try:
        replica.start()
        for member in ("umich", "bare"):
            sim.kubectl(member, "apply", "-f", "-", stdin=h.service_manifest("web"))
        ip = h.until(lambda: h.ingress_ip(sim, "umich", "web"), 10, "umich address")
        h.until(lambda: replica.dig(name("web")) == [f"A {ip}"], 10, "umich published")
        assert "no zone configured" in open(replica.log_path).read()
    finally:
        replica.kill()
        sim.stop()


def test_pool_namespace_selectors_see_the_members_namespace_labels(fresh_etcd, tmp_path):
    # umich: a pool for team=blue namespaces (tried first) and one for everyone;
    # uva: only a team=blue pool, so a Service elsewhere waits until its namespace
    # is labelled
    etcd = fresh_etcd
    sim = h.Sim(str(tmp_path), "umich:us-east:us-east-1,uva:us-east:us-east-2")
    blue = {"namespaceSelector": {"matchLabels": {"team": "blue"}}}
    pools = [{"name": "umich-blue", "site": "umich", "addresses": ["192.0.2.0/28"], **blue},
             {"name": "umich-any", "site": "umich", "addresses": ["192.0.2.16/28"]},
             {"name": "uva-blue", "site": "uva", "addresses": ["192.0.2.128/28"], **blue}]
    replica = h.Replica(str(tmp_path), "r1", etcd.url, sim.kubeconfig,
                        members="umich:us-east:us-east-1,uva:us-east:us-east-2",
                        extra={"pools": pools})
    try:
        replica.start()
        for member in ("umich", "uva"):
            sim.kubectl(member, "create", "namespace", "apps")
        sim.kubectl("umich", "label", "namespace", "apps", "team=blue")
        for member in ("umich", "uva"):
            sim.kubectl(member, "apply", "-f", "-", stdin=h.service_manifest("web", "apps"))
        sim.kubectl("umich", "apply", "-f", "-", stdin=h.service_manifest("web"))

        def ip_in(member: str, namespace: str) -> str:
            out = sim.kubectl(member, "get", "svc", "web", "-n", namespace, "-o",
                              "jsonpath={.status.loadBalancer.ingress[0].ip}", check=False)
            return out.strip()

        blue_ip = h.until(lambda: ip_in("umich", "apps"), 10, "umich apps/web address")
        assert ipaddress.ip_address(blue_ip) in ipaddress.ip_network("192.0.2.0/28")
        any_ip = h.until(lambda: ip_in("umich", "default"), 10, "umich default/web address")
        assert ipaddress.ip_address(any_ip) in ipaddress.ip_network("192.0.2.16/28")
        h.until(lambda: "selector_mismatch" in sim.kubectl("uva", "describe", "svc", "web",
                                                          "-n", "apps"),
                10, "uva refuses: its namespace is not team=blue")
        assert ip_in("uva", "apps") == ""
        # labelling the namespace is enough: the Service is looked at again
        sim.kubectl("uva", "label", "namespace", "apps", "team=blue")
        uva_ip = h.until(lambda: ip_in("uva", "apps"), 10, "uva address once labelled")
        assert ipaddress.ip_address(uva_ip) in ipaddress.ip_network("192.0.2.128/28")
    finally:
        replica.kill()
        sim.stop()


def test_kubectl_writes_over_https_with_the_token(etcd, tmp_path):
    # kubectl sends a bearer token only over HTTPS: with api.certFile/keyFile it can
    # apply an IPPool (through IPAM), and with a wrong token it is refused
    cert = tls.self_signed("fedns-api")
    cert_file, key_file = tmp_path / "api.crt", tmp_path / "api.key"
    cert_file.write_bytes(cert.cert_pem)
    key_file.write_bytes(cert.key_pem)
    sim = h.Sim(str(tmp_path))
    replica = h.Replica(str(tmp_path), "r1", etcd.url, sim.kubeconfig,
                        tls=(str(cert_file), str(key_file)))
    try:
        replica.start()
        assert replica.api_url.startswith("https://")
        kubectl = [h.kubectl_binary(), "--server", replica.api_url,
                   "--certificate-authority", str(cert_file)]
        pool = ("apiVersion: fedns.io/v1alpha1\nkind: IPPool\nmetadata: {name: umich-extra}\n"
                "spec: {site: umich, addresses: [203.0.113.64/28]}\n")
        refused = subprocess.run(kubectl + ["--token", "wrong", "apply", "-f", "-"], input=pool,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode != 0 and "Unauthorized" in refused.stderr, refused.stderr
        applied = subprocess.run(kubectl + ["--token", "s3cret", "apply", "-f", "-"], input=pool,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert applied.returncode == 0, applied.stderr
        h.until(lambda: "203.0.113.64/28" in h.etcd_keys(etcd.members[0].endpoint,
                                                          "/fedns/ipam/pools/umich-extra")
                .get("/fedns/ipam/pools/umich-extra", ""), 10, "the pool in IPAM")
        status = subprocess.run(h.fedns_cmd("status", "--api", replica.api_url,
                                            "--ca", str(cert_file)),
                                capture_output=True, text=True, timeout=60, check=False)
        assert status.returncode == 0 and "umich-extra" in status.stdout, status.stderr
        untrusted = subprocess.run(h.fedns_cmd("status", "--api", replica.api_url),
                                   capture_output=True, text=True, timeout=60, check=False)
        assert untrusted.returncode == 2 and len(untrusted.stderr.strip().splitlines()) == 1
    finally:
        replica.kill()
        sim.stop()
