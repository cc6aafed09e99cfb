"""Federation v1's placement annotations on a single template, read into a Policy.

- ``federation.alpha.kubernetes.io/cluster-selector``: a JSON list of
  ``{"key", "operator", "values"}`` requirements on the members' labels, with every
  operator spelling v1 accepted (``in``/``In``/``=``/``==``, ``notin``/``NotIn``/``!=``,
  ``exists``/``Exists``, ``!``/``DoesNotExist``, ``gt``/``Gt``/``>``, ``lt``/``Lt``/``<``)
  and apimachinery's rules for their values (Gt/Lt: one integer).
- ``federation.kubernetes.io/deployment-preferences`` (Deployments) and
  ``federation.kubernetes.io/replica-set-preferences`` (ReplicaSets):
  ``{"rebalance": bool, "clusters": {NAME or "*": {"minReplicas", "maxReplicas",
  "weight"}}}``.  As in v1: field names match case-insensitively and unknown fields are
  ignored (Go's encoding/json); ``"*"`` holds for members not named; without ``"*"`` a
  member not named gets nothing; ``rebalance: true`` re-divides every time (and so also
  moves replicas back to a member that recovers).

The division is fedns's Webster division, not v1's ceiling planner (which was not
monotone).  A Deployment or ReplicaSet without a preferences annotation is divided
evenly (v1's default of ``"*": {"weight": 1}``); any other kind is duplicated.  Unlike
v1, negative numbers are refused and a member whose share is 0 gets no copy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from placement import labels, members, policy
from placement.errors import Problems

SELECTOR = "federation.alpha.kubernetes.io/cluster-selector"
PREFERENCES = {"Deployment": "federation.kubernetes.io/deployment-preferences",
               "ReplicaSet": "federation.kubernetes.io/replica-set-preferences"}
SOURCE = "federation-v1-annotations"


def _get(doc: Mapping[str, Any], field: str) -> Any:
    """Go's encoding/json: an exact key, else one equal ignoring case."""
    if field in doc:
        return doc[field]
    for key, value in doc.items():
        if isinstance(key, str) and key.lower() == field.lower():
            return value
    return None


def _selector(text: str, where: str, problems: Problems) -> labels.Selector:
    try:
        doc = json.loads(text)
    except ValueError as err:
        problems.add(where, f"must be a JSON list of requirements: {err}")
        return ()
    if doc is None:  # Go decodes null into an empty selector: every member
        return ()
    if not isinstance(doc, list):
        problems.add(where, f"must be a JSON list of requirements, got {text!r}")
        return ()
    out = []
    for i, item in enumerate(doc):
        if not isinstance(item, Mapping):
            problems.add(f"{where}[{i}]", f"must be an object with key, operator and values, "
                                          f"got {item!r}")
            continue
        req = labels.requirement(_get(item, "key"), _get(item, "operator"),
                                 _get(item, "values"), f"{where}[{i}]", problems)
        if req is not None:
            out.append(req)
    return tuple(out)


def _count(doc: Mapping[str, Any], field: str, where: str, problems: Problems,
           default: int | None) -> int | None:
    value = _get(doc, field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        problems.add(f"{where}.{field}", f"must be a non-negative integer, got {value!r}")
        return default
    return value


def _division(text: str, where: str, problems: Problems) -> policy.Division:
    try:
        doc = json.loads(text)
    except ValueError as err:
        problems.add(where, f"must be a JSON object: {err}")
        return policy.Division(policy.DIVIDED)
    if doc is None:  # Go leaves the preferences at their zero value: nobody named
        doc = {}
    if not isinstance(doc, Mapping):
        problems.add(where, f"must be a JSON object, got {text!r}")
        return policy.Division(policy.DIVIDED)
    rebalance = _get(doc, "rebalance")
    if rebalance is not None and not isinstance(rebalance, bool):
        problems.add(f"{where}.rebalance", f"must be true or false, got {rebalance!r}")
    clusters = _get(doc, "clusters") or {}
    if not isinstance(clusters, Mapping):
        problems.add(f"{where}.clusters", f"must be an object, got {clusters!r}")
        clusters = {}
    terms = {policy.ANY: policy.Terms(0, 0, None)}  # not named and no "*": nothing
    for name, prefs in clusters.items():
        here = f"{where}.clusters.{name}"
        if not isinstance(prefs, Mapping):
            problems.add(here, f"must be an object, got {prefs!r}")
            continue
        t = policy.Terms(_count(prefs, "weight", here, problems, 0) or 0,
                         _count(prefs, "minReplicas", here, problems, 0) or 0,
                         _count(prefs, "maxReplicas", here, problems, None))
        if t.max_replicas is not None and t.min_replicas > t.max_replicas:
            problems.add(f"{here}.minReplicas",
                         f"must not exceed maxReplicas ({t.max_replicas}), got {t.min_replicas}")
        terms[str(name)] = t
    return policy.Division(policy.DIVIDED, terms, rebalance is True)


def has_annotations(annotations: Mapping[str, str] | None, kind: str) -> bool:
    """Whether the template carries any v1 placement annotation for its kind."""
    present = annotations or {}
    return SELECTOR in present or PREFERENCES.get(kind, "") in present


def from_annotations(annotations: Mapping[str, str] | None, kind: str) -> policy.Policy:
    """The v1 policy of a template of ``kind``; PolicyInvalid lists every problem (paths
    like ``metadata.annotations[federation.kubernetes.io/deployment-preferences]
    .clusters.umich.weight``)."""
    annotations = annotations or {}
    problems = Problems()
    groups = policy.EVERY_MEMBER
    if SELECTOR in annotations:
        where = f"metadata.annotations[{SELECTOR}]"
        groups = (members.MemberGroup("cluster-selector",
                                      selector=_selector(annotations[SELECTOR], where,
                                                         problems)),)
    division = policy.Division()
    if kind in PREFERENCES:
        key = PREFERENCES[kind]
        if key in annotations:
            division = _division(annotations[key], f"metadata.annotations[{key}]", problems)
        else:
            division = policy.Division(policy.DIVIDED, {policy.ANY: policy.Terms(1, 0, None)})
    problems.raise_if_any()
    return policy.Policy(name=SOURCE, groups=groups, division=division,
                         failover=policy.Failover(rebalance_on_recovery=division.rebalance))
