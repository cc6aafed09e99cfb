"""corefile stays pure: importing it loads the standard library and fedns.errors only."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(f"corefile.{p.stem}" for p in (ROOT / "corefile").glob("*.py")
                 if p.stem != "__init__")

PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("module", MODULES)
def test_importing_loads_only_the_standard_library(module):
    result = subprocess.run([sys.executable, "-c", PROBE.format(module=module)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = json.loads(result.stdout)
    tops = {name.split(".")[0] for name in loaded}
    assert tops - set(sys.stdlib_module_names) <= {"corefile", "fedns"}
    assert {n for n in loaded if n.startswith("fedns")} <= {"fedns", "fedns.errors"}
    assert "asyncio" not in tops


def test_every_module_is_probed():
    assert MODULES == ["corefile.check", "corefile.render", "corefile.syntax"]
