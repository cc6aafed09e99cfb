"""Layout contracts: the top-level packages are ours, and the pure ones stay pure."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Packages (and single modules) that must never import I/O libraries (DESIGN.md).
PURE = ["ipam", "placement", "propagate", "corefile", "fedns.records.skydns",
        "fedns.records.desired", "fedns.records.plan", "fedns.dnsserver.answer",
        "fedns.dnsserver.lookup", "fedns.dnsserver.zone", "fedns.dnsserver.settings",
        "fedns.dnsserver.wire", "fedns.dnsserver.cache", "fedns.dnsserver.names",
        "fedns.dnsserver.backend", "fedns.dnsserver.apex",
        "fedns.controller.state"]
FORBIDDEN = ["kubernetes", "aiohttp", "aetcd", "asyncio", "grpc"]


@pytest.mark.parametrize("name", ["ipam", "placement", "propagate", "corefile", "fedns"])
def test_package_resolves_to_this_repository(name):
    # `placement` is also an OpenStack distribution on PyPI: ours must win.
    out = subprocess.run(
        [sys.executable, "-c", f"import {name}; print({name}.__file__)"],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout.strip()
    assert pathlib.Path(out).resolve() == ROOT / name / "__init__.py"


_PROBE = """
import importlib, json, pkgutil, sys
name = sys.argv[1]
mod = importlib.import_module(name)
for info in pkgutil.walk_packages(getattr(mod, "__path__", []), name + "."):
    importlib.import_module(info.name)
print(json.dumps({"loaded": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("name", PURE)
def test_pure_code_imports_no_io_library(name):
    result = subprocess.run([sys.executable, "-c", _PROBE, name], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    bad = sorted({m.split(".")[0] for m in report["loaded"]} & set(FORBIDDEN))
    assert bad == [], f"{name} imports {bad}"
