"""fedns/ipamstore/README.md cannot rot: sections, examples, metrics and commands."""

from __future__ import annotations

import argparse
import pathlib
import re
import textwrap

import yaml
from prometheus_client import CollectorRegistry

from fedns import store
from fedns.cli import pool as command
from fedns.ipamstore import manager, metrics
from ipam import pool

README = (pathlib.Path(__file__).resolve().parents[2] / "fedns" / "ipamstore"
          / "README.md").read_text()


def test_readme_has_the_component_sections():
    headings = re.findall(r"^## (\w+)", README, flags=re.MULTILINE)
    assert headings == ["Name", "Description", "Syntax", "Examples", "Metrics"]


async def test_the_pool_file_example_applies():
    (text,) = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)
    st = await store.open_store("memory://")
    ipam = manager.IPAM(st, {}, registry=CollectorRegistry())
    await ipam.start()
    try:
        await ipam.apply_pools(pool.from_dicts(yaml.safe_load(text)))
        listed = [[u.site, u.pool, u.family_name, str(u.capacity), str(u.used), str(u.free),
                   u.state] for u in ipam.usage()]
    finally:
        await ipam.stop()
        await st.close()
    (session,) = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    shown = [line[2:].split() for line in session.splitlines() if line.startswith("# ")]
    assert shown[1:] == listed


async def test_python_example_runs():
    (code,) = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    namespace: dict = {}
    exec("async def example():\n" + textwrap.indent(code, "    "), namespace)  # noqa: S102
    await namespace["example"]()


def test_every_metric_and_command_is_documented():
    for name in re.findall(r"`(fedns_ipam_\w+)`", metrics.__doc__ or ""):
        assert f"| `{name}` |" in README
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    for top, choices in parser._subparsers._group_actions[0].choices.items():
        sub = choices._subparsers._group_actions[0].choices
        for name in sub:
            assert f"`fedns {top} {name}" in README, f"fedns {top} {name}"
