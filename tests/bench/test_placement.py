"""bench/placement runs end to end at a tiny size (its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys


def test_a_tiny_run_reports_every_round_against_the_even_split():
    result = subprocess.run(
        [sys.executable, "-m", "bench.placement", "--members", "10", "--templates", "40"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for label in ("created", "scaled", "5 members failed", "members back"):
        line = next(x for x in out.splitlines() if x.startswith(label))
        assert line.rstrip().split()[-2].endswith("x"), line  # the fedns/even ratio
    failed = next(x for x in out.splitlines() if x.startswith("5 members failed"))
    assert int(failed.split()[-1]) > 0  # failover listed old copies to withdraw
    assert "Karmada's SLO" in out and "headroom" in out
