"""One source of truth for pools, with ``fedns run`` up on real etcd (issue 13).

Every way to change a pool — the config at start, ``fedns pool ...``, kubectl at the
appliance API — ends in the same record; a change made one way holds and is seen by
the others; a bad IPPool is refused at the write; a Service refused an address gets
one as soon as its site's pool is widened.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import time
from typing import Any

import yaml

from tests.integration import harness as h

HOLD = 10.0  # seconds a change must hold, as the issue asks


def pools_in_etcd(endpoint: str) -> dict[str, dict]:
    found = h.etcd_keys(endpoint, "/fedns/ipam/pools/")
    return {k.rsplit("/", 1)[1]: json.loads(v) for k, v in found.items()}


def pool_cli(store: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(h.fedns_cmd("pool", *args, "--store", store), input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def kubectl(replica: h.Replica, *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
    """kubectl at the appliance API with the token (sent over HTTPS only, so the
    replica must serve it: ``https_replica``)."""
    trust = ["--certificate-authority", replica.ca] if replica.ca else []
    return subprocess.run([h.kubectl_binary(), "--server", replica.api_url, "--token", "s3cret",
                           *trust, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def https_replica(tmp_path: pathlib.Path, store: str, kubeconfig: str, **kw: Any) -> h.Replica:
    return h.Replica(str(tmp_path), "r1", store, kubeconfig,
                     tls=h.api_certificate(str(tmp_path)), **kw)


def hold(check, seconds: float, what: str) -> None:
    """``check()`` stays true for ``seconds`` (polled; fails at the first false)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert check(), f"{what} did not hold"
        time.sleep(0.25)


def test_cli_pool_edits_hold_under_a_running_appliance_and_across_a_restart(fresh_etcd, tmp_path):
    etcd = fresh_etcd
    endpoint, store = etcd.members[0].endpoint, etcd.url
    sim = h.Sim(str(tmp_path))
    replica = https_replica(tmp_path, store, sim.kubeconfig)
    try:
        replica.start()
        extra = [{"name": "wide", "site": "umich", "addresses": ["203.0.113.0/28"]},
                 {"name": "drained", "site": "uva", "addresses": ["203.0.113.64/28"]},
                 {"name": "gone", "site": "ucsd", "addresses": ["203.0.113.128/28"]}]
        created = pool_cli(store, "apply", "-f", "-", stdin=yaml.safe_dump(extra))
        assert created.returncode == 0, created.stderr
        widened = pool_cli(store, "apply", "-f", "-", stdin=yaml.safe_dump(
            [{**extra[0], "addresses": ["203.0.113.0/27"]}]))
        assert widened.returncode == 0, widened.stderr
        assert pool_cli(store, "drain", "drained").returncode == 0
        assert pool_cli(store, "delete", "gone").returncode == 0

        def edits_hold() -> bool:
            pools = pools_in_etcd(endpoint)
            return (pools["wide"]["spec"]["addresses"] == ["203.0.113.0/27"]
                    and pools["drained"]["spec"]["draining"] is True and "gone" not in pools)

        hold(edits_hold, HOLD, "the CLI's pool edits")
        # seen by the API as well
        listed = kubectl(replica, "get", "ippools", "-o", "json")
        specs = {p["metadata"]["name"]: p for p in json.loads(listed.stdout)["items"]}
        assert specs["wide"]["spec"]["addresses"] == ["203.0.113.0/27"]
        assert specs["drained"]["status"]["state"] == "Draining"
        assert "gone" not in specs

        # a pool changed in the config is applied at the restart, logged, and holds
        replica.kill()
        with open(replica.config_path) as f:
            config = yaml.safe_load(f)
        config["pools"][0]["addresses"] = ["192.0.2.0/24"]  # umich-v4, widened
        with open(replica.config_path, "w") as f:
            yaml.safe_dump(config, f)
        replica.start()
        with open(replica.log_path) as f:
            assert "pool umich-v4: the config differs from the Store" in f.read()
        hold(lambda: edits_hold() and pools_in_etcd(endpoint)["umich-v4"]["spec"]["addresses"]
             == ["192.0.2.0/24"], HOLD, "the config's change and the CLI's edits")
    finally:
        replica.kill()
        sim.stop()


def test_kubectl_edits_go_through_ipam_and_bad_pools_are_refused(fresh_etcd, tmp_path):
    etcd = fresh_etcd
    endpoint = etcd.members[0].endpoint
    sim = h.Sim(str(tmp_path))
    replica = https_replica(tmp_path, etcd.url, sim.kubeconfig)
    try:
        replica.start()
        before = pools_in_etcd(endpoint)
        bad = {
            "a bad CIDR": ("spec: {site: umich, addresses: [10.0.0.300/24]}",
                           "spec.addresses"),
            "a same-site overlap": ("spec: {site: umich, addresses: [192.0.2.64/26]}",
                                    "overlap"),
            "an unknown field": ("spec: {site: umich, addresses: [10.9.0.0/24], adresses: []}",
                                 "adresses"),
        }
        for what, (spec, named) in bad.items():
            body = f"apiVersion: fedns.io/v1alpha1\nkind: IPPool\nmetadata: {{name: bad}}\n{spec}\n"
            out = kubectl(replica, "apply", "-f", "-", stdin=body)
            assert out.returncode != 0, f"{what} accepted"
            assert named in out.stderr and "Traceback" not in out.stderr, (what, out.stderr)
        assert pools_in_etcd(endpoint) == before, "nothing stored"

        # a patch through the API is IPAM's record at once, and fedns pool sees it
        patched = kubectl(replica, "patch", "ippool", "uva-v4", "--type", "merge", "-p",
                          '{"spec":{"addresses":["192.0.2.128/25","203.0.113.0/28"]}}')
        assert patched.returncode == 0, patched.stderr
        shown = subprocess.run(h.fedns_cmd("pool", "show", "uva-v4", "--store", etcd.url),
                               capture_output=True, text=True, timeout=60, check=False)
        assert "203.0.113.0/28" in shown.stdout, shown.stdout + shown.stderr
        hold(lambda: pools_in_etcd(endpoint)["uva-v4"]["spec"]["addresses"]
             == ["192.0.2.128/25", "203.0.113.0/28"], 3, "the patch")

        # a pool with a holder refuses to be deleted, with the reason, and stays
        sim.kubectl("umich", "apply", "-f", "-", stdin=h.service_manifest("web"))
        h.until(lambda: h.ingress_ip(sim, "umich", "web"), 10, "umich ingress IP")
        refused = kubectl(replica, "delete", "ippool", "umich-v4")
        assert refused.returncode != 0 and "drain" in refused.stderr, refused.stderr
        assert "umich-v4" in pools_in_etcd(endpoint)
    finally:
        replica.kill()
        sim.stop()


def test_a_service_refused_for_an_exhausted_pool_gets_an_address_once_widened(fresh_etcd,
                                                                             tmp_path):
    etcd = fresh_etcd
    sim = h.Sim(str(tmp_path))
    tiny = [{"name": "umich-v4", "site": "umich", "addresses": ["192.0.2.1/32"]},
            {"name": "uva-v4", "site": "uva", "addresses": ["192.0.2.128/25"]},
            {"name": "ucsd-v4", "site": "ucsd", "addresses": ["198.51.100.0/24"]}]
    replica = h.Replica(str(tmp_path), "r1", etcd.url, sim.kubeconfig,
                        extra={"pools": tiny})
    try:
        replica.start()
        sim.kubectl("umich", "apply", "-f", "-", stdin=h.service_manifest("first"))
        h.until(lambda: h.ingress_ip(sim, "umich", "first"), 10, "first address")
        sim.kubectl("umich", "apply", "-f", "-", stdin=h.service_manifest("second"))

        def refused() -> bool:
            events = json.loads(sim.kubectl("umich", "get", "events", "-o", "json"))["items"]
            return any(e["reason"] == "AllocationFailed" and
                       e["involvedObject"]["name"] == "second" for e in events)

        h.until(refused, 10, "second refused: pool exhausted")

        def status_says_why() -> str:
            # HOST:PORT with no scheme is http://HOST:PORT
            out = subprocess.run(h.fedns_cmd("status", "--api", f"127.0.0.1:{replica.api_port}"),
                                 capture_output=True, text=True, timeout=60, check=False)
            assert out.returncode == 0, out.stderr
            rows = [line for line in out.stdout.splitlines() if line.startswith("default")]
            return next((r for r in rows if r.split()[1] == "second" and "pool_exhausted" in r),
                        "")

        row = h.until(status_says_why, 10, "fedns status naming the refusal")
        assert "umich: pool_exhausted" in row, row
        widened = pool_cli(etcd.url, "apply", "-f", "-", stdin=yaml.safe_dump(
            [{**tiny[0], "addresses": ["192.0.2.1/32", "192.0.2.2/32"]}]))
        assert widened.returncode == 0, widened.stderr
        took = h.elapsed_until(lambda: h.ingress_ip(sim, "umich", "second") == "192.0.2.2", 10,
                               "second's address after the widening")
        assert took < 1.0, f"{took:.2f}s"
    finally:
        replica.kill()
        sim.stop()
