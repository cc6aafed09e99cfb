"""``fedns completion bash``: the script completes commands, subcommands and options as
bash calls it (COMP_WORDS / COMP_CWORD), generated from the real parser."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    out = subprocess.run([sys.executable, "-m", "fedns.cli", "completion", "bash"],
                         capture_output=True, text=True, timeout=60, check=True)
    path = tmp_path_factory.mktemp("completion") / "fedns.bash"
    path.write_text(out.stdout)
    return path


@pytest.mark.parametrize("words, wanted", [
    (["fedns", ""], {"pool", "run", "demo", "status", "completion", "--version"}),
    (["fedns", "po"], {"pool"}),
    (["fedns", "pool", ""], {"apply", "list", "show", "drain", "undrain", "delete"}),
    (["fedns", "pool", "apply", "--d"], {"--dry-run"}),
    (["fedns", "pool", "apply", "-f", "pools.yaml", "--s"], {"--site", "--store"}),
    (["fedns", "ip", "list", "-o", "json", "--p"], {"--pool"}),
], ids=["commands", "prefix", "subcommands", "option", "after-a-value", "ip-list"])
def test_bash_completes(script, words, wanted):
    quoted = " ".join(f"'{w}'" for w in words)
    probe = (f"source {script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
             "_fedns_complete; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30,
                         check=True)
    got = set(out.stdout.split())
    assert wanted <= got, got
    assert all(w.startswith(words[-1]) for w in got)
