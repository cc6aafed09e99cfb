"""``fedns demo --smoke`` as a user runs it: every scripted check passes, exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from tests.integration import harness
from tests.support import procs


def test_demo_smoke_passes_every_check(tmp_path):
    dns, api = procs.free_port(), procs.free_port()
    result = subprocess.run(
        [sys.executable, "-m", "fedns.cli", "demo", "--smoke", "--dns-listen", f"127.0.0.1:{dns}",
         "--api-listen", f"127.0.0.1:{api}"],
        capture_output=True, text=True, timeout=180, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert list(tmp_path.iterdir()) == [], "the demo leaves no temporary folder behind"
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "passed: 0 failed checks"
    checks = [line for line in lines if line.startswith("  ")]
    assert len(checks) >= 20 and all(line.startswith("  ok    ") for line in checks)
    # the federation endpoint's part: copies, Available summed back, addresses, DNS
    for step in ("umich runs its share of web: 2 of 6 replicas",
                 "the endpoint's web is Available with 6/6 ready",
                 "the endpoint's Service web lists every member's address",
                 "web.default.demo.svc.us-west-1.us-west.fedns.example answers ucsd"):
        assert any(step in line for line in checks), step
    assert "Traceback" not in result.stderr


def test_demo_refuses_a_bad_listen_address_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "fedns.cli", "demo", "--smoke", "--dns-listen", "nowhere"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fedns: demo: --dns-listen: 'nowhere' is not ADDR:PORT with an IP address"]


def test_a_taken_port_names_the_option_and_leaves_nothing_behind(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "fedns.cli", "demo", "--dns-listen", f"127.0.0.1:{port}",
             "--api-listen", f"127.0.0.1:{procs.free_port()}"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fedns: --dns-listen: cannot listen on 127.0.0.1:{port} (UDP): Address already in use"]
    assert list(tmp_path.iterdir()) == []


def test_the_options_say_what_they_are_for():
    result = subprocess.run([sys.executable, "-m", "fedns.cli", "demo", "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert "where the DNS server answers" in result.stdout
    assert "where the API" in result.stdout


def test_the_demo_kubeconfig_reaches_the_members_and_the_federation(tmp_path):
    kubeconfig = tmp_path / "kc"
    dns, api = procs.free_port(), procs.free_port()
    out = tmp_path / "demo.out"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fedns.cli", "demo", "--kubeconfig", str(kubeconfig),
             "--dns-listen", f"127.0.0.1:{dns}", "--api-listen", f"127.0.0.1:{api}"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        procs.wait_for(lambda: "Ctrl-C stops it." in out.read_text() or proc.poll() is not None,
                       60, "the demo running")
        assert proc.poll() is None, out.read_text()
        kubectl = [harness.kubectl_binary(), "--kubeconfig", str(kubeconfig)]
        pools = subprocess.run(kubectl + ["get", "ippools"], capture_output=True, text=True,
                               timeout=60, check=False)
        assert pools.returncode == 0 and "umich-v4" in pools.stdout, pools.stderr
        svc = subprocess.run(kubectl + ["--context", "umich", "get", "svc", "hello"],
                             capture_output=True, text=True, timeout=60, check=False)
        assert svc.returncode == 0 and "LoadBalancer" in svc.stdout, svc.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, out.read_text()
    finally:
        procs.stop_process(proc)
