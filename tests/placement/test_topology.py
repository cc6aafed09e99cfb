"""placement.topology: a member's location (site default, region and zone from Node
labels) and the nearest-tier choice, table- and property-tested; its README section."""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedns import errors
from placement import topology

README = (pathlib.Path(__file__).resolve().parents[2] / "placement" / "README.md").read_text()

REGION_GA, ZONE_GA = "topology.kubernetes.io/region", "topology.kubernetes.io/zone"
REGION_BETA = "failure-domain.beta.kubernetes.io/region"
ZONE_BETA = "failure-domain.beta.kubernetes.io/zone"


def node(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "n", "labels": labels}}


# --- the model -------------------------------------------------------------------------


@pytest.mark.parametrize(("member", "site", "want"), [
    pytest.param("umich", "", "umich", id="default-is-the-member-name"),
    pytest.param("umich", "michigan", "michigan", id="configured-wins"),
])
def test_site_of(member, site, want):
    assert topology.site_of(member, site) == want
    assert topology.Location(member, site, "r", "z").site == want


def test_location_is_a_frozen_value():
    where = topology.Location("umich", "", "mw", "a")
    assert where == topology.Location("umich", "umich", "mw", "a")
    assert len({where, topology.Location("umich", "umich", "mw", "a")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        where.zone = "b"  # type: ignore[misc]


# --- resolving region and zone -----------------------------------------------------------


@pytest.mark.parametrize(("configured", "nodes", "want"), [
    pytest.param({"region": "r", "zone": "z"}, [], ("x", "r", "z"), id="config-needs-no-nodes"),
    pytest.param({"region": "r", "zone": "z"}, [node(**{REGION_GA: "a", ZONE_GA: "b"})],
                 ("x", "r", "z"), id="config-wins-over-labels"),
    pytest.param({}, [node(**{REGION_GA: "us-west", ZONE_GA: "us-west-2"})] * 3,
                 ("x", "us-west", "us-west-2"), id="labels-agreed"),
    pytest.param({"region": "r"}, [node(**{ZONE_GA: "z1"})], ("x", "r", "z1"),
                 id="zone-from-labels-region-configured"),
    pytest.param({}, [node(**{REGION_BETA: "old", ZONE_BETA: "old-1"})], ("x", "old", "old-1"),
                 id="beta-labels"),
    pytest.param({}, [node(**{REGION_GA: "new", REGION_BETA: "old", ZONE_GA: "z"})],
                 ("x", "new", "z"), id="ga-label-before-beta"),
    pytest.param({}, [node(**{REGION_GA: "r", ZONE_GA: "z"}), node(), {}],
                 ("x", "r", "z"), id="unlabelled-nodes-abstain"),
    pytest.param({}, [node(**{REGION_GA: "r", ZONE_GA: "z"}), node(**{REGION_BETA: "r"})],
                 ("x", "r", "z"), id="ga-and-beta-agree"),
    pytest.param({"site": "campus"}, [node(**{REGION_GA: "r", ZONE_GA: "z"})],
                 ("campus", "r", "z"), id="site-passed-through"),
])
def test_resolve(configured, nodes, want):
    site, region, zone = want
    assert topology.resolve("x", nodes, **configured) == topology.Location("x", site, region, zone)


@pytest.mark.parametrize(("configured", "nodes", "message"), [
    pytest.param({}, [], "member 'x': no region configured and no Node has the label "
                 "topology.kubernetes.io/region", id="no-nodes"),
    pytest.param({"region": "r"}, [node(**{REGION_GA: "r"})],
                 "member 'x': no zone configured and no Node has the label "
                 "topology.kubernetes.io/zone", id="no-zone-label"),
    pytest.param({}, [node(**{REGION_GA: "b", ZONE_GA: "z"}), node(**{REGION_BETA: "a"})],
                 "member 'x': no region configured and its Nodes disagree: a, b",
                 id="regions-disagree"),
    pytest.param({"region": "r"}, [node(**{ZONE_GA: "z1"}), node(**{ZONE_GA: "z2"})],
                 "member 'x': no zone configured and its Nodes disagree: z1, z2",
                 id="zones-disagree"),
])
def test_resolve_refuses_with_one_line(configured, nodes, message):
    with pytest.raises(topology.TopologyUnknown) as caught:
        topology.resolve("x", nodes, **configured)
    assert str(caught.value) == message
    assert isinstance(caught.value, errors.UsageError)


# --- the nearest tier -------------------------------------------------------------------

CLIENT = topology.Location("umich", "umich", "mw", "a")
ZONE_TIER = topology.Tier("zone", "mw", "a")
REGION_TIER = topology.Tier("region", "mw", "")


@pytest.mark.parametrize(("healthy", "tier", "found", "asked"), [
    pytest.param({"zone": ["z"], "region": ["r"]}, "zone", ["z"], ["zone"], id="zone-first"),
    pytest.param({"region": ["r"]}, "region", ["r"], ["zone", "region"], id="region-next"),
    pytest.param({"zone": [], "region": ["r"]}, "region", ["r"], ["zone", "region"],
                 id="empty-zone-is-no-answer"),
    pytest.param({}, "all", None, ["zone", "region"], id="all-last"),
    pytest.param({"zone": [], "region": []}, "all", None, ["zone", "region"],
                 id="empty-tiers-are-no-answer"),
])
def test_nearest(healthy, tier, found, asked):
    seen: list[topology.Tier] = []

    def answers(t: topology.Tier) -> list[str] | None:
        seen.append(t)
        return healthy.get(t.name)

    chosen, answer = topology.nearest(CLIENT, answers)
    assert (chosen.name, answer) == (tier, found)
    assert [t.name for t in seen] == asked, "asked nearest first, no further than needed"
    assert all(t in (ZONE_TIER, REGION_TIER) for t in seen), "tiers carry the client's place"


def test_tiers_nearest_first():
    assert topology.tiers("mw", "a") == (ZONE_TIER, REGION_TIER, topology.Tier("all", "", ""))
    assert [t.name for t in topology.tiers("mw", "a")] == [topology.ZONE, topology.REGION,
                                                           topology.ALL]


@given(zone=st.booleans(), region=st.booleans(), place=st.tuples(st.text(), st.text()))
def test_nearest_is_the_first_tier_with_an_answer(zone, region, place):
    client = topology.Location("m", "", *place)
    has = {"zone": zone, "region": region}
    chosen, answer = topology.nearest(client, lambda t: t.name if has[t.name] else None)
    want = "zone" if zone else "region" if region else "all"
    assert chosen.name == want
    assert answer == (None if want == "all" else want)
    assert chosen in topology.tiers(*place)


# --- the README ------------------------------------------------------------------------


def _section() -> str:
    # a section or a subsection (the README's other sections are placement's own)
    found = re.search(r"^##?#? Topology\n(.*?)(?=^#{1,3} |\Z)", README, re.MULTILINE | re.DOTALL)
    assert found, "placement/README.md has a Topology section"
    return found.group(1)


def test_readme_nearest_table_is_the_rule():
    rows = re.findall(r"^\| (yes|no) \| (yes|no) \| `(\w+)` \|$", _section(), re.MULTILINE)
    assert len(rows) == 4
    for zone, region, tier in rows:
        healthy = {"zone": zone == "yes", "region": region == "yes"}
        chosen, _ = topology.nearest(CLIENT, lambda t, h=healthy: h[t.name] or None)
        assert chosen.name == tier, (zone, region)


def test_readme_names_the_labels_and_every_public_name():
    text = _section()
    for label in topology.REGION_LABELS + topology.ZONE_LABELS:
        assert f"`{label}`" in text
    for name in ("Location", "site_of", "resolve", "TopologyUnknown", "nearest", "tiers", "Tier"):
        assert f"`{name}" in text, name
