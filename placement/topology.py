"""The federation's topology: where each member sits and which tier is nearest a client.

The one model of it, used by the record planner, the DNS server and IPAM: a member's
:class:`Location` (its site, region and zone), the rule for a member's site (its own
name unless configured), the region and zone a member takes from its Nodes'
``topology.kubernetes.io`` labels when the config leaves them out, and the
nearest-tier choice for a client (its zone, else its region, else everywhere).

Pure: plain data in, plain data out.  It does not read Nodes (fedns.members does),
know DNS names or keys (fedns.records does) or map client addresses to sites
(fedns.dnsserver's settings do).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from fedns import errors

# The well-known labels first; the beta ones are what clusters older than 1.17 set.
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

# Tier names, nearest first (also the values of the DNS server's tier metric label).
ZONE, REGION, ALL = "zone", "region", "all"

T = TypeVar("T")


class TopologyUnknown(errors.UsageError):
    """The member's region or zone is neither configured nor agreed by its Nodes."""


def site_of(member: str, site: str = "") -> str:
    """A member's site: the configured one, else the member's own name."""
    return site or member


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    """Where a member of the federation sits: its site (default: its name), region
    and zone."""

    member: str
    site: str
    region: str
    zone: str

    def __post_init__(self) -> None:
        if not self.site:
            object.__setattr__(self, "site", site_of(self.member))


# --- a member's region and zone from its Nodes -----------------------------------------


def _label(node: Mapping[str, Any], names: tuple[str, ...]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    for name in names:
        if labels.get(name):
            return str(labels[name])
    return ""


def _agreed(member: str, what: str, nodes: list[Mapping[str, Any]],
            names: tuple[str, ...]) -> str:
    values = {_label(node, names) for node in nodes}
    values.discard("")
    if len(values) == 1:
        return values.pop()
    if not values:
        raise TopologyUnknown(
            f"member {member!r}: no {what} configured and no Node has the label {names[0]}")
    raise TopologyUnknown(
        f"member {member!r}: no {what} configured and its Nodes disagree: "
        + ", ".join(sorted(values)))


def resolve(member: str, nodes: Iterable[Mapping[str, Any]], *, site: str = "",
            region: str = "", zone: str = "") -> Location:
    """The member's location: the configured site, region and zone, the site
    defaulting to the member's name and the region and zone each to the value every
    Node that carries the label agrees on (Node objects as plain dicts).

    Raises :class:`TopologyUnknown`, naming the member, when a region or zone is not
    configured and no Node has its label, or Nodes disagree.
    """
    node_list = list(nodes)
    return Location(
        member=member,
        site=site_of(member, site),
        region=region or _agreed(member, "region", node_list, REGION_LABELS),
        zone=zone or _agreed(member, "zone", node_list, ZONE_LABELS),
    )


# --- the nearest tier ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Tier:
    """One tier of answers for a client: ``zone`` (``zone`` of ``region``),
    ``region`` (all of ``region``; ``zone`` empty) or ``all`` (both empty)."""

    name: str
    region: str
    zone: str


_ALL = Tier(ALL, "", "")
# nearest() runs on every DNS answer to a client in a site: its tiers are built once
# per place (a plain dict: an lru_cache call costs more than the rest of nearest())
_tiers: dict[tuple[str, str], tuple[Tier, Tier, Tier]] = {}
_TIERS_KEPT = 4096


def tiers(region: str, zone: str) -> tuple[Tier, Tier, Tier]:
    """The tiers for a client in ``zone`` of ``region``, nearest first."""
    found = _tiers.get((region, zone))
    if found is None:
        if len(_tiers) >= _TIERS_KEPT:
            _tiers.clear()
        found = _tiers[region, zone] = (Tier(ZONE, region, zone), Tier(REGION, region, ""), _ALL)
    return found


def nearest(client: Location, answers: Callable[[Tier], T | None]) -> tuple[Tier, T | None]:
    """The nearest tier that has an answer for a client at ``client``: its zone, else
    its region, else ``all`` (whose answer is every healthy copy, left to the caller:
    it is returned with None and ``answers`` is never asked for it).

    ``answers(tier)`` gives the tier's healthy answer, or None (or an empty one) when
    it has none; it is asked nearest first and no further than the first answer, so a
    caller pays only for the tiers it needs.
    """
    zone_tier, region_tier, all_tier = tiers(client.region, client.zone)
    found = answers(zone_tier)
    if found:
        return zone_tier, found
    found = answers(region_tier)
    if found:
        return region_tier, found
    return all_tier, None
