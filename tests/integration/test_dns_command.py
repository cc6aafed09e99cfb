"""``fedns dns`` standalone: serves records written by hand with etcdctl, from real etcd."""

from __future__ import annotations

import os
import subprocess

from tests.integration import harness as h
from tests.support import procs


def test_serves_records_put_with_etcdctl(etcd, tmp_path):
    endpoint = etcd.members[0].endpoint
    env = {**os.environ, "ETCDCTL_API": "3"}
    subprocess.run(["etcdctl", "--endpoints", endpoint, "put",
                    "/skydns/org/example/hand/x1", '{"host":"192.0.2.44","ttl":60}'],
                   check=True, env=env, capture_output=True, timeout=30)
    port = procs.free_port()
    log = open(tmp_path / "dns.log", "w+")
    proc = subprocess.Popen(h.fedns_cmd("dns", "--store", etcd.url, "--zone", "example.org",
                                        "--listen", f"127.0.0.1:{port}"),
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
    finally:
        procs.stop_process(proc)
        log.close()
    assert proc.returncode == 0


def test_bad_arguments_are_one_line():
    result = subprocess.run(h.fedns_cmd("dns", "--zone", "example.org", "--site", "bad"),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "site 'bad' is not NAME:REGION:ZONE=CIDR" in result.stderr
    assert "Traceback" not in result.stderr
