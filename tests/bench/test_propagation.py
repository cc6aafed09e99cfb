"""bench/propagation runs end to end at a tiny size (its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys


def test_a_tiny_run_propagates_and_reports():
    result = subprocess.run(
        [sys.executable, "-m", "bench.propagation", "--members", "2", "--deployments", "4"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "applied 4 at the endpoint and 4 x 2 in the members" in out
    for what in ("copy in every member", "Available", "in DNS, every member"):
        for side in ("endpoint: ", "floor:    "):
            line = next(x for x in out.splitlines() if x.startswith(side + what))
            assert "n=     4" in line, line  # every application measured
    assert out.count("endpoint p99 / floor p99:") == 3
    assert "never converged" not in out
