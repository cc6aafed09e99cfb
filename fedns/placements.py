"""The ``Placement`` and ``ClusterPlacement`` kinds at the API: validated at the write,
read back into placement policies.

placement's README describes one kind whose namespace is optional; a kapi kind has
one scope, so there are two sharing the spec: ``placements`` (``pl``, namespaced:
governs the templates of its namespace) and ``clusterplacements`` (``cpl``,
cluster-scoped: any namespace).  A write whose spec :func:`placement.policy.from_dict`
refuses is a 422 naming every bad field.  ``status`` is written by the placement
status controller (:mod:`fedns.controller.placing`): per template it governs, the
members chosen and their replicas.

Shared by the API (which serves the kinds) and the controllers (which read them).
Not the decision itself (``placement``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from fedns import kinds
from fedns.kapi import objects, registry, tables
from placement import errors as placement_errors
from placement import policy

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")

_PRINTER = tables.columns(("Division", ".spec.division.type"),
                          ("Templates", ".status.templates"),
                          ("Placed", ".status.summary"))


def validate(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    """The problems of a Placement or ClusterPlacement as (field, message) causes."""
    causes = [(field, "unknown field") for field in new if field not in TOP_LEVEL]
    try:
        to_policy(new)
    except placement_errors.PolicyInvalid as err:
        causes.extend(err.causes)
    return causes


def to_policy(obj: Obj) -> policy.Policy:
    """The policy an object of either kind describes; raises PolicyInvalid.  A
    ClusterPlacement is read as a Placement without a namespace."""
    if obj.get("kind") == CLUSTER_PLACEMENTS.kind and obj.get("apiVersion") == kinds.API_VERSION:
        meta = {k: v for k, v in objects.meta(obj).items() if k != "namespace"}
        obj = {**obj, "kind": policy.KIND, "metadata": meta}
    return policy.from_dict(obj)


def policies(objs: Iterable[Obj]) -> list[policy.Policy]:
    """The policies of stored objects; one that no longer parses (written by an older
    release) is skipped with a log line rather than stopping every placement."""
    found = []
    for obj in objs:
        try:
            found.append(to_policy(obj))
        except placement_errors.PolicyInvalid as err:
            log.error("%s %s: %s; ignored", obj.get("kind"), objects.meta(obj).get("name"), err)
    return found


PLACEMENTS = registry.Kind(
    kinds.GROUP, kinds.VERSION, "placements", "Placement", namespaced=True,
    short_names=("pl",), categories=("fedns",), status=True, printer=_PRINTER,
    validate=validate,
    description="Which members get the templates of its namespace, and how many replicas.")
CLUSTER_PLACEMENTS = dataclasses.replace(
    PLACEMENTS, plural="clusterplacements", kind="ClusterPlacement", namespaced=False,
    short_names=("cpl",),
    description="Which members get templates of any namespace, and how many replicas.")
KINDS = (PLACEMENTS, CLUSTER_PLACEMENTS)
