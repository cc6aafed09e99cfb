"""The wire-format modules of kapi stay pure: no I/O library is imported with them."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PURE = ["fedns.kapi.patch", "fedns.kapi.strategic", "fedns.kapi.selectors",
        "fedns.kapi.tables", "fedns.kapi.printers", "fedns.kapi.status",
        "fedns.kapi.objects", "fedns.kapi.registry", "fedns.kapi.discovery",
        "fedns.kapi.protobuf", "fedns.kapi.apply", "fedns.kapi.scale", "fedns.kapi.schemas",
        "fedns.kapi.fieldvalidation", "fedns.kapi.openapi", "fedns.kapi.clusterprinters",
        "fedns.kapi.reviews", "fedns.kapi.subresources", "fedns.kapi.protogen", "fedns.kapi.cron"]
FORBIDDEN = {"kubernetes", "aiohttp", "aetcd", "asyncio", "grpc"}


@pytest.mark.parametrize("name", PURE)
def test_pure_module_imports_no_io_library(name):
    code = f"import json, sys, {name}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert sorted({m.split(".")[0] for m in json.loads(out)} & FORBIDDEN) == []
