"""fedns/sim/README.md cannot rot: the command examples parse and the Python example runs."""

from __future__ import annotations

import pathlib
import re
import shlex
import textwrap

from fedns import cli
from fedns.cli import sim as command
from fedns.sim import cluster

README = (pathlib.Path(__file__).resolve().parents[2] / "fedns" / "sim" / "README.md").read_text()


def test_readme_has_the_component_sections():
    headings = re.findall(r"^## (\w+)", README, flags=re.MULTILINE)
    assert headings == ["Name", "Description", "Syntax", "Examples", "Metrics"]


def test_command_examples_parse():
    examples = [line for line in re.findall(r"```\n(.*?)```", README, flags=re.DOTALL)
                if line.startswith("fedns sim ") and "[" not in line]
    assert examples
    parser = cli._Parser(prog="fedns")
    command.register(parser.add_subparsers())
    for line in examples:
        args = parser.parse_args(shlex.split(line)[1:])
        settings = command._settings(args)
        assert settings.members and all(isinstance(m, cluster.MemberSpec)
                                        for m in settings.members)


async def test_python_example_runs(tmp_path):
    (code,) = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    namespace: dict = {}
    exec("async def example(tmp_path):\n" + textwrap.indent(code, "    "), namespace)  # noqa: S102 - our own README
    await namespace["example"](tmp_path)
    assert (tmp_path / "kubeconfig").exists()
