"""The README's examples are real: its config parses, its commands exist."""

from __future__ import annotations

import pathlib
import re

import yaml

from fedns import cli, config

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_config_example_is_valid():
    block = re.search(r"## Config\n\n```yaml\n(.*?)```", README, re.DOTALL)
    assert block is not None
    settings = config.parse(yaml.safe_load(block.group(1)), "README")
    assert settings.members[0].name == "umich" and settings.pools[0].site == "umich"
    assert settings.api.event_ttl == 3600


def test_every_command_in_the_table_exists():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "==SUPPRESS==" or a.choices)
    commands = set(sub.choices)
    listed = set(re.findall(r"^\| `fedns (\w+)", README, re.MULTILINE))
    assert listed <= commands, listed - commands
    assert commands <= listed | {"--version"}, f"undocumented: {commands - listed}"


def test_two_setup_commands_and_ci():
    shells = re.findall(r"```sh\n(.*?)\n```", README, re.DOTALL)
    assert shells[:2] == ["pip install -e . && fedns demo", "bash tests/run.sh"]
    assert "bash tests/run.sh" in (ROOT / ".ci" / "run").read_text()


def test_benchmarks_listed_exist():
    for module in re.findall(r"`python -m (bench\.[\w.]+)", README):
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), module
