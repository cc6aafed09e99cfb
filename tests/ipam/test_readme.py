"""ipam/README.md cannot rot: every YAML example parses and validates."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from ipam import allocator, pool

README = (pathlib.Path(__file__).resolve().parents[2] / "ipam" / "README.md").read_text()
EXAMPLES = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_the_component_sections():
    headings = re.findall(r"^## (\w+)", README, flags=re.MULTILINE)
    assert headings == ["Name", "Description", "Syntax", "Examples", "Metrics"]
    assert EXAMPLES


@pytest.mark.parametrize("text", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_yaml_example_is_a_valid_pool_list(text):
    pools = pool.from_dicts(yaml.safe_load(text))
    assert pools
    for p in pools:
        assert pool.from_dict(pool.to_dict(p)) == p


def test_every_pool_field_and_refusal_reason_is_documented():
    for key in pool.FIELDS:
        assert f"| `{key}` |" in README
    for reason in allocator.REASONS:
        assert f"| `{reason}` |" in README


def test_the_metrics_named_are_the_ones_fedns_exports():
    # the metrics table of fedns/ipamstore/README.md is checked against the code
    exported = (pathlib.Path(__file__).resolve().parents[2] / "fedns" / "ipamstore" /
                "README.md").read_text()
    named = set(re.findall(r"`(fedns_\w+?)(?:\{\w*\})?`", README))
    assert named, "the Metrics section names fedns's metrics"
    assert {n for n in named if f"| `{n}` |" not in exported} == set()
