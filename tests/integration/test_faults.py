"""Faults with real processes: a killed leader, a stopped member, a stopped etcd.

After each: nothing lost (every Service has an address and is published) and no
address is ever held twice (checked in etcd itself).
"""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import time

import pytest

from tests.integration import harness as h
from tests.support import procs


def name(service: str) -> str:
    return ".".join([service, "default", h.FEDERATION, "svc", h.DOMAIN])


def create(sim: h.Sim, member: str, names: list[str]) -> None:
    sim.kubectl(member, "apply", "-f", "-", stdin="---\n".join(h.service_manifest(n) for n in names))


def ingress_all(sim: h.Sim, member: str) -> dict[str, str]:
    items = json.loads(sim.kubectl(member, "get", "svc", "-o", "json"))["items"]
    out = {}
    for svc in items:
        ingress = (svc.get("status", {}).get("loadBalancer", {}) or {}).get("ingress") or []
        if svc["spec"].get("type") == "LoadBalancer":
            out[svc["metadata"]["name"]] = ingress[0]["ip"] if ingress else ""
    return out


def assert_no_address_held_twice(endpoint: str) -> None:
    owners = h.etcd_keys(endpoint, "/fedns/ipam/owners/")
    addresses = [json.loads(v)["address"] for v in owners.values()]
    duplicates = [a for a, n in collections.Counter(addresses).items() if n > 1]
    assert duplicates == []
    held = h.etcd_keys(endpoint, "/fedns/ipam/addrs/")
    assert len(held) == len(addresses), "every owner record has its address key"


@pytest.fixture
def sim(tmp_path):
    s = h.Sim(str(tmp_path))
    yield s
    s.stop()


def test_leader_killed_during_churn(etcd, sim, tmp_path):
    replicas = [h.Replica(str(tmp_path), f"r{i}", etcd.url, sim.kubeconfig).start()
                for i in (1, 2)]
    try:
        first = h.until(lambda: [r for r in replicas if r.leading()], 20, "a leader")
        assert len(first) == 1
        leader, other = first[0], next(r for r in replicas if r is not first[0])
        create(sim, "umich", [f"churn-{i}" for i in range(40)])
        leader.kill(signal.SIGKILL)
        create(sim, "umich", [f"churn-{i}" for i in range(40, 80)])
        took = h.elapsed_until(other.leading, 20, "the other replica leads")
        assert took <= 10 + 2, f"took {took:.1f}s for a 10 s lease"
        h.until(lambda: all(ingress_all(sim, "umich").get(f"churn-{i}") for i in range(80)),
                30, "every Service has an address")
        ips = ingress_all(sim, "umich")
        assert len(set(ips.values())) == len(ips) == 80
        assert_no_address_held_twice(etcd.members[0].endpoint)
        h.until(lambda: other.dig(name("churn-79")) == [f"A {ips['churn-79']}"], 10,
                "published by the new leader")
        # the new leader kept every address the old one gave
        assert ingress_all(sim, "umich") == ips
    finally:
        for r in replicas:
            r.kill()


def test_member_stopped_is_withdrawn_and_restored(etcd, tmp_path):
    specs = "umich:us-east:us-east-1,ucsd:us-west:us-west-1"
    # a member of its own, so the test can stop it alone
    (tmp_path / "lone").mkdir()
    lone = h.Sim(str(tmp_path / "lone"), "uva:us-east:us-east-2")
    main = h.Sim(str(tmp_path), specs)
    kubeconfig = str(tmp_path / "all.kubeconfig")
    merged = subprocess.run([h.kubectl_binary(), "config", "view", "--flatten"],
                            env={"KUBECONFIG": f"{main.kubeconfig}:{lone.kubeconfig}"},
                            capture_output=True, text=True, check=True).stdout
    open(kubeconfig, "w").write(merged)
    replica = h.Replica(str(tmp_path), "r1", etcd.url, kubeconfig,
                        members=specs + ",uva:us-east:us-east-2").start()
    try:
        create(main, "umich", ["shop"])
        create(lone, "uva", ["shop"])
        ip_umich = h.until(lambda: h.ingress_ip(main, "umich", "shop"), 10, "umich IP")
        ip_uva = h.until(lambda: h.ingress_ip(lone, "uva", "shop"), 10, "uva IP")
        both = sorted([f"A {ip_umich}", f"A {ip_uva}"])
        h.until(lambda: replica.dig(name("shop")) == both, 10, "both published")
        lone.proc.send_signal(signal.SIGSTOP)  # the member stops answering
        try:
            h.until(lambda: replica.dig(name("shop")) == [f"A {ip_umich}"], 15,
                    "uva withdrawn after the damping window")
        finally:
            lone.proc.send_signal(signal.SIGCONT)
        h.until(lambda: replica.dig(name("shop")) == both, 15, "uva restored")
        assert h.ingress_ip(lone, "uva", "shop") == ip_uva, "its objects were left untouched"
    finally:
        replica.kill()
        main.stop()
        lone.stop()


def test_etcd_outage_keeps_dns_answering_and_the_controller_catches_up(tmp_path, sim):
    cluster = procs.EtcdCluster(1).start()
    replica = h.Replica(str(tmp_path), "r1", cluster.url, sim.kubeconfig).start()
    try:
        create(sim, "umich", ["before"])
        ip = h.until(lambda: h.ingress_ip(sim, "umich", "before"), 10, "address")
        h.until(lambda: replica.dig(name("before")) == [f"A {ip}"], 10, "published")
        member = cluster.members[0]
        member.stop()
        try:
            create(sim, "umich", [f"during-{i}" for i in range(10)])
            # 30 s of outage; DNS keeps answering the last zone all along
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                assert replica.dig(name("before")) == [f"A {ip}"]
                time.sleep(1)  # pacing of the repeated check, not a wait
        finally:
            cluster.restart(member)
        h.until(lambda: all(ingress_all(sim, "umich").get(f"during-{i}") for i in range(10)),
                60, "the controller catches up")
        ips = ingress_all(sim, "umich")
        assert len(set(ips.values())) == len(ips) == 11
        h.until(lambda: replica.dig(name("during-9")) == [f"A {ips['during-9']}"], 20,
                "published after the outage")
        assert_no_address_held_twice(member.endpoint)
    finally:
        replica.kill()
        cluster.stop()


def test_one_member_of_a_3_node_etcd_stopped(etcd3, sim, tmp_path):
    replica = h.Replica(str(tmp_path), "r1", etcd3.url, sim.kubeconfig).start()
    try:
        create(sim, "ucsd", ["a"])
        h.until(lambda: h.ingress_ip(sim, "ucsd", "a"), 10, "address")
        etcd3.members[0].stop()
        create(sim, "ucsd", ["b", "c"])
        h.until(lambda: all(ingress_all(sim, "ucsd").get(n) for n in "abc"), 30,
                "addresses with one etcd member down")
        ips = ingress_all(sim, "ucsd")
        h.until(lambda: replica.dig(name("c")) == [f"A {ips['c']}"], 15, "published")
        assert len(set(ips.values())) == 3
        assert_no_address_held_twice(etcd3.members[1].endpoint)
    finally:
        replica.kill()


def test_a_lost_store_never_renumbers(sim, tmp_path):
    first = procs.EtcdCluster(1).start()
    replica = h.Replica(str(tmp_path), "r1", first.url, sim.kubeconfig).start()
    try:
        create(sim, "ucsd", ["a", "b"])
        h.until(lambda: all(ingress_all(sim, "ucsd").get(n) for n in "ab"), 10, "addresses")
        sim.kubectl("ucsd", "delete", "svc", "a")
        kept = ingress_all(sim, "ucsd")["b"]
    finally:
        replica.kill()
        first.stop()
    # a new, empty Store: b's address must be adopted from its status, not renumbered
    second = procs.EtcdCluster(1).start()
    again = h.Replica(str(tmp_path), "r2", second.url, sim.kubeconfig).start()
    try:
        owners = lambda: h.etcd_keys(second.members[0].endpoint, "/fedns/ipam/owners/")  # noqa: E731
        h.until(lambda: [json.loads(v)["address"] for v in owners().values()] == [kept], 15,
                "the status address adopted")
        create(sim, "ucsd", ["c"])
        h.until(lambda: ingress_all(sim, "ucsd").get("c"), 10, "a new address for c")
        assert ingress_all(sim, "ucsd")["b"] == kept
        assert ingress_all(sim, "ucsd")["c"] != kept
        h.until(lambda: again.dig(name("b")) == [f"A {kept}"], 10, "b published again")
    finally:
        again.kill()
        second.stop()
