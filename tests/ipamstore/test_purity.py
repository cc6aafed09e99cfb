"""The format, the mirror and the txn plans stay pure: no I/O library is imported."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORBIDDEN = {"asyncio", "grpc", "aetcd", "aiohttp", "kubernetes", "prometheus_client"}


@pytest.mark.parametrize("module", ["fedns.ipamstore.keys", "fedns.ipamstore.state",
                                    "fedns.ipamstore.txn"])
def test_pure_module_imports_no_io_library(module):
    probe = (f"import json, sys, {module}; "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                       text=True, check=True, cwd=ROOT).stdout)
    assert sorted(FORBIDDEN & set(loaded)) == []
