"""fedns/kapi/README.md cannot rot: the sections exist, every Kind field is documented
and the Python example runs."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import textwrap

from fedns.kapi import registry

README = (pathlib.Path(__file__).resolve().parents[2] / "fedns" / "kapi" / "README.md").read_text()


def test_readme_has_the_component_sections():
    headings = re.findall(r"^## (\w+)", README, flags=re.MULTILINE)
    assert headings == ["Name", "Description", "Syntax", "Examples", "Metrics"]


def test_every_kind_field_is_in_the_syntax():
    syntax = README.split("## Syntax", 1)[1].split("## Examples", 1)[0]
    for field in dataclasses.fields(registry.Kind):
        assert re.search(rf"\b{field.name}\b", syntax), field.name


async def test_python_example_runs():
    (code,) = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    namespace: dict = {}
    exec("async def example():\n" + textwrap.indent(code, "    "), namespace)  # noqa: S102 - our own README
    await namespace["example"]()


def test_the_limits_are_the_ones_enforced():
    from fedns import safeload
    from fedns.kapi import body, patch, storage

    limits = README.split("- **Limits**", 1)[1].split("- **Auth**", 1)[0]
    for number in (body.MAX_BYTES, safeload.DEFAULT.max_depth, body.MAX_PATCH_OPERATIONS,
                   storage.MAX_OBJECT_BYTES):
        assert str(number) in limits, number
    assert body.PARSE_THREADS == 2 and "two-thread pool" in limits
    assert patch.MAX_COPIED_BYTES == body.MAX_BYTES  # "3 MiB" both
    assert body.INLINE_BYTES == {"yaml": 4 * 1024, "json": 64 * 1024, "protobuf": 64 * 1024}
