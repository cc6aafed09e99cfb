"""placement stays pure: importing any of its modules loads no I/O library and nothing of
fedns but fedns.errors, and no third-party package at all."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(f"placement.{p.stem}" for p in (ROOT / "placement").glob("*.py")
                 if p.stem != "__init__")

PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("module", MODULES)
def test_importing_loads_only_the_stdlib_and_fedns_errors(module):
    result = subprocess.run([sys.executable, "-c", PROBE.format(module=module)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(result.stdout)
    tops = {name.split(".")[0] for name in loaded}
    assert tops - set(sys.stdlib_module_names) <= {"placement", "fedns"}
    assert {n for n in loaded if n.startswith("fedns.")} <= {"fedns.errors"}


def test_every_module_is_probed():
    assert {"placement.division", "placement.decision", "placement.policy"} <= set(MODULES)
