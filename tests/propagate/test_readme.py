"""propagate/README.md cannot rot: its sections, its Syntax names real functions, every
annotation it lists is the module's, and every python example runs."""

from __future__ import annotations

import pathlib
import re

import pytest

import propagate
from propagate import manifest

README = (pathlib.Path(__file__).resolve().parents[2] / "propagate" / "README.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_the_component_sections():
    assert README.startswith("# propagate\n")
    assert re.findall(r"^## (\w+)", README, flags=re.MULTILINE) == [
        "Name", "Description", "Syntax", "Examples"]
    assert EXAMPLES


def test_syntax_names_real_functions():
    syntax = README.split("## Syntax")[1].split("## Examples")[0]
    names = re.findall(r"^(\w+)\.(\w+)\(", syntax, flags=re.MULTILINE)
    assert names
    for module, function in names:
        mod = __import__(f"propagate.{module}", fromlist=[function])
        assert callable(getattr(mod, function)), f"{module}.{function}"
    assert propagate.__doc__


def test_every_annotation_is_documented():
    for name in (manifest.GENERATION, manifest.HASH, manifest.ORPHANED, manifest.ADOPT,
                 manifest.ORPHAN, manifest.MEMBERS):
        assert f"| `{name}` |" in README


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_example_runs(code):
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
