"""``fedns demo --smoke`` as a user runs it: every scripted check passes, exit 0."""

from __future__ import annotations

import subprocess
import sys

from tests.support import procs


def test_demo_smoke_passes_every_check():
    dns, api = procs.free_port(), procs.free_port()
    result = subprocess.run(
        [sys.executable, "-m", "fedns.cli", "demo", "--smoke", "--dns-listen", f"127.0.0.1:{dns}",
         "--api-listen", f"127.0.0.1:{api}"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "passed: 0 failed checks"
    checks = [line for line in lines if line.startswith("  ")]
    assert len(checks) >= 20 and all(line.startswith("  ok    ") for line in checks)
    assert "Traceback" not in result.stderr


def test_demo_refuses_a_bad_listen_address_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "fedns.cli", "demo", "--smoke", "--dns-listen", "nowhere"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fedns: demo: dns.listen: 'nowhere' is not ADDR:PORT with an IP address"]
