"""placement/README.md cannot rot: its examples parse and decide as it says, its tables
list every field and match the division, its API block names real functions."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re

import pytest
import yaml

from placement import decision, division, federation_v1, members, policy, selection

README = (pathlib.Path(__file__).resolve().parents[2] / "placement" / "README.md").read_text()
EXAMPLES = [yaml.safe_load(t) for t in re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)]
PLACEMENTS = {e["metadata"]["name"]: e for e in EXAMPLES if e.get("kind") == "Placement"}
TEMPLATES = [e for e in EXAMPLES if e.get("kind") != "Placement"]
M = members.MemberInfo


def test_readme_has_the_component_sections():
    headings = re.findall(r"^## (\w+)", README, flags=re.MULTILINE)
    assert headings == ["Name", "Description", "Syntax", "Examples", "Metrics"]
    assert set(PLACEMENTS) == {"web", "shared-config"} and len(TEMPLATES) == 1


@pytest.mark.parametrize("name", sorted(PLACEMENTS))
def test_every_placement_example_is_valid(name):
    assert policy.from_dict(PLACEMENTS[name]).name == name


def test_primary_backup_example_decides_as_described():
    pol = policy.from_dict(PLACEMENTS["web"])
    web = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop"}}
    assert selection.policy_for(web, [pol]) == (pol, "placement/web")
    fleet = [M("umich"), M("msu"), M("osu")]
    first = decision.decide(pol, fleet, "shop/web", 6, now=0)
    assert first.group == "primary" and first.replicas == {"umich": 4, "msu": 2}
    down = [M("umich", ready=False, not_ready_since=0), M("msu", ready=False,
                                                          not_ready_since=0), M("osu")]
    failed = decision.decide(pol, down, "shop/web", 6, now=301, previous=first)
    assert failed.group == "backup" and failed.replicas == {"osu": 6}
    assert failed.withdrawing == {"umich": 4, "msu": 2}
    back = decision.decide(pol, fleet, "shop/web", 6, now=400, previous=failed)
    assert back.group == "primary" and back.replicas == first.replicas


def test_shared_config_example_decides_as_described():
    pol = policy.from_dict(PLACEMENTS["shared-config"])
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "ca", "namespace": "x", "labels": {"shared": "true"}}}
    assert selection.select(cm, [pol]) is pol
    prod = {"environment": "production"}
    fleet = [M("umich", prod, "us-east"), M("msu", prod, "us-central"),
             M("lab", prod, "us-west"), M("dev", {"environment": "dev"}, "us-west")]
    assert decision.decide(pol, fleet, "v1/ConfigMap/x/ca", None, now=0).members == (
        "msu", "umich")
    assert "needs at least 2 regions" in decision.decide(pol, fleet[:1], "k", None,
                                                         now=0).reason


def test_v1_example_decides_as_described():
    template = TEMPLATES[0]
    pol = federation_v1.from_annotations(template["metadata"]["annotations"],
                                         template["kind"])
    europe, usa = {"location": "europe"}, {"location": "usa"}
    fleet = [M("eu-west", europe), M("eu-north", europe), M("us-east", usa)]
    got = decision.decide(pol, fleet, "default/web", template["spec"]["replicas"], now=0)
    assert got.replicas == {"eu-west": 9, "eu-north": 3}
    more = decision.decide(pol, fleet, "default/web", 20, now=1, previous=got)
    assert more.replicas == {"eu-west": 10, "eu-north": 10}


ROWS = re.findall(r"^\| (\d+(?::\d+)+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", README,
                  re.MULTILINE)


@pytest.mark.parametrize("weights,total,a,b,c", ROWS, ids=[f"{r[0]}x{r[1]}" for r in ROWS])
def test_division_table(weights, total, a, b, c):
    shares = [division.Share(n, int(w)) for n, w in zip("abc", weights.split(":"))]
    assert division.divide(int(total), shares, "shop/web") == {"a": int(a), "b": int(b),
                                                              "c": int(c)}
    assert len(ROWS) == 5


def test_every_spec_field_is_documented():
    fields = [*(f"spec.{f}" for f in policy.SPEC_FIELDS),
              *(f"spec.members[].{f}" for f in policy.GROUP_FIELDS),
              *(f"spec.division.{f}" for f in policy.DIVISION_FIELDS),
              "spec.spread[].spreadByField", "spec.spread[].minGroups",
              "spec.spread[].maxGroups", "spec.failover.tolerationSeconds",
              "spec.failover.rebalanceOnRecovery"]
    table = re.findall(r"^\| (.*?) \|", README, re.MULTILINE)
    documented = set()
    for cell in table:
        names = re.findall(r"`([^`]+)`", cell)
        for name in names:
            documented.add(name)
            if name.startswith("."):  # `.kind` after `...[].apiVersion`
                documented.add(names[0].rsplit(".", 1)[0] + name)
    missing = [f for f in fields
               if f not in documented and not any(d.startswith(f + ".") for d in documented)]
    assert missing == []
    for annotation in (federation_v1.SELECTOR, *federation_v1.PREFERENCES.values()):
        assert f"`{annotation}`" in README


API = re.search(r"```python\n(.*?)```", README, re.DOTALL)


def test_api_block_names_real_functions_with_those_parameters():
    assert API is not None
    calls = re.findall(r"(\w+)\.(\w+)\(([^)]*)\)", API.group(1))
    assert len(calls) >= 10
    for module, func, params in calls:
        target = getattr(importlib.import_module(f"placement.{module}"), func)
        names = [p.split("=")[0].strip() for p in params.replace("\n", " ").split(",")
                 if p.strip()]
        assert names == list(inspect.signature(target).parameters), (module, func)
