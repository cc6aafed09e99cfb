"""bench/convergence runs end to end at a tiny size (its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys


def test_a_tiny_run_converges_and_reports(tmp_path):
    profile = tmp_path / "fedns.prof"
    result = subprocess.run(
        [sys.executable, "-m", "bench.convergence", "--members", "2", "--services", "5",
         "--profile", str(profile)],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "created 10 Services" in out
    for what in ("creation -> records in etcd", "creation -> member name answers",
                 "deletion -> name is NXDOMAIN"):
        line = next(x for x in out.splitlines() if x.startswith(what))
        assert "n=    10" in line, line  # every copy measured
    assert "peer: etcd put -> watch event" in out
    assert "never converged" not in out
    assert profile.exists() and "Ordered by: internal time" in out
