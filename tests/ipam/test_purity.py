"""ipam stays pure: importing it loads no I/O library and nothing beyond its allowance."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(f"ipam.{p.stem}" for p in (ROOT / "ipam").glob("*.py") if p.stem != "__init__")
FORBIDDEN = {"asyncio", "aiohttp", "aetcd", "kubernetes"}
ALLOWED_THIRD_PARTY = {"ipam", "fedns", "sortedcontainers", "netaddr"}

PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("module", MODULES)
def test_importing_loads_no_io_library(module):
    result = subprocess.run([sys.executable, "-c", PROBE.format(module=module)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(result.stdout)
    tops = {name.split(".")[0] for name in loaded}
    assert tops & FORBIDDEN == set()
    assert tops - set(sys.stdlib_module_names) <= ALLOWED_THIRD_PARTY
    assert {n for n in loaded if n.startswith("fedns.")} <= {"fedns.errors"}


def test_every_module_is_probed():
    assert {"ipam.pool", "ipam.index", "ipam.allocator"} <= set(MODULES)
