"""bench/kapi runs end to end against a real ``fedns sim`` at a tiny size (its figures
are not checked)."""

from __future__ import annotations

import subprocess
import sys


def test_a_tiny_run_reports_every_phase():
    result = subprocess.run([sys.executable, "-m", "bench.kapi", "--requests", "10",
                             "--rounds", "1", "--replicas", "10", "--pods", "50"],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for what in ("GET /healthz (peer)", "Service create", "EndpointSlice create",
                 "Service status PATCH", "Deployment available", "Memory per Running Pod"):
        assert any(line.startswith(what) for line in result.stdout.splitlines()), what
