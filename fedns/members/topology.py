"""A member's region and zone: from its config, else from its Nodes' labels.

Pure: takes the configured values and the Node objects (plain dicts), returns the
topology or raises :class:`TopologyUnknown` naming the member and what disagreed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from fedns import errors

REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")


class TopologyUnknown(errors.UsageError):
    """The member's region or zone is neither configured nor agreed by its Nodes."""


@dataclasses.dataclass(frozen=True)
class Topology:
    region: str
    zone: str


def _label(node: dict[str, Any], names: tuple[str, ...]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    for name in names:
        if labels.get(name):
            return str(labels[name])
    return ""


def _agreed(member: str, what: str, nodes: list[dict[str, Any]], names: tuple[str, ...]) -> str:
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


def resolve(member: str, region: str, zone: str, nodes: Iterable[dict[str, Any]]) -> Topology:
    """The configured region/zone, each filled from the Nodes' labels when empty."""
    node_list = list(nodes)
    return Topology(
        region=region or _agreed(member, "region", node_list, REGION_LABELS),
        zone=zone or _agreed(member, "zone", node_list, ZONE_LABELS),
    )
