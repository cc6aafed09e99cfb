"""``fedns dns`` standalone: serves records written by hand with etcdctl, from real etcd."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration import harness as h
from tests.support import procs


def test_serves_records_put_with_etcdctl(etcd, tmp_path):
    endpoint = etcd.members[0].endpoint
    env = {**os.environ, "ETCDCTL_API": "3"}
    subprocess.run(["etcdctl", "--endpoints", endpoint, "put",
                    "/skydns/org/example/hand/x1", '{"host":"192.0.2.44","ttl":60}'],
                   check=True, env=env, capture_output=True, timeout=30)
    granted = subprocess.run(["etcdctl", "--endpoints", endpoint, "lease", "grant", "600"],
                             check=True, env=env, capture_output=True, text=True, timeout=30)
    lease = granted.stdout.split()[1]  # "lease 694d... granted with TTL(600s)"
    subprocess.run(["etcdctl", "--endpoints", endpoint, "put", "--lease", lease,
                    "/skydns/org/example/leased/x1", '{"host":"192.0.2.46"}'],
                   check=True, env=env, capture_output=True, timeout=30)
    port = procs.free_port()
    log = open(tmp_path / "dns.log", "w+")
    proc = subprocess.Popen(h.fedns_cmd("dns", "--store", etcd.url, "--zone", "example.org",
                                        "--listen", f"127.0.0.1:{port}",
                                        "--max-lease-ttl", "120", "--tcp-per-client", "4"),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def dig(name: str) -> str:
            return subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+tries=1",
                                   "+time=1", name], capture_output=True, text=True).stdout.strip()

        procs.wait_for(lambda: dig("hand.example.org") == "192.0.2.44", 20, "hand record served")
        subprocess.run(["etcdctl", "--endpoints", endpoint, "put",
                        "/skydns/org/example/hand/x2", '{"host":"192.0.2.45"}'],
                       check=True, env=env, capture_output=True, timeout=30)
        procs.wait_for(lambda: sorted(dig("hand.example.org").split()) ==
                       ["192.0.2.44", "192.0.2.45"], 5, "second record followed")
        # a record on a 600 s lease answers with the lease's time, at most --max-lease-ttl
        answer = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+noall", "+answer",
                                 "+tries=1", "+time=1", "leased.example.org"],
                                capture_output=True, text=True).stdout.split()
        assert answer[1] == "120" and answer[-1] == "192.0.2.46", answer
    finally:
        procs.stop_process(proc)
        log.close()
    assert proc.returncode == 0


@pytest.mark.parametrize("args, line", [
    (["--site", "bad"], "site 'bad' is not NAME:REGION:ZONE=CIDR"),
    (["--store", "etcd://127.0.0.1:1", "--min-lease-ttl", "600", "--max-lease-ttl", "60"],
     "--min-lease-ttl 600 is above --max-lease-ttl 60"),
    (["--tcp-connections", "0"], "argument --tcp-connections: must be a positive number, "
                                 "got '0'"),
], ids=["site", "lease-bounds", "tcp-zero"])
def test_bad_arguments_are_one_line(args, line):
    result = subprocess.run(h.fedns_cmd("dns", "--zone", "example.org", *args),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert line in result.stderr
    assert "Traceback" not in result.stderr
