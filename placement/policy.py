"""The ``fedns.io/v1alpha1`` Placement kind: its spec parsed into frozen dataclasses.

``from_dict(obj)`` validates a whole Placement object and raises
:class:`placement.errors.PolicyInvalid` listing every problem as ``(field path,
message)``, e.g. ``spec.division.weights.umich: must be a non-negative integer, got -1``.
The fields are documented in placement/README.md.  Not the decision (placement.decision)
nor the choice among several Placements (placement.selection).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from placement import division, labels, members
from placement.errors import Problems

API_VERSION, KIND = "fedns.io/v1alpha1", "Placement"
DUPLICATED, DIVIDED = "Duplicated", "Divided"
DEFAULT_TOLERATION = 300
ANY = "*"  # the terms of every member not named

SPEC_FIELDS = ("resourceSelectors", "priority", "members", "spread", "division", "failover")
GROUP_FIELDS = ("name", "names", "labelSelector", "regions", "zones", "exclude")
DIVISION_FIELDS = ("type", "weights", "minReplicas", "maxReplicas", "rebalance")


@dataclasses.dataclass(frozen=True)
class ResourceSelector:
    """Templates of one apiVersion and kind, optionally one namespace, name, labels."""

    api_version: str
    kind: str
    namespace: str = ""
    name: str = ""
    selector: labels.Selector | None = None

    def matches(self, template: Mapping[str, Any]) -> bool:
        meta = template.get("metadata") or {}
        if template.get("apiVersion") != self.api_version or template.get("kind") != self.kind:
            return False
        if self.namespace and meta.get("namespace", "") != self.namespace:
            return False
        if self.name and meta.get("name") != self.name:
            return False
        return self.selector is None or labels.matches(self.selector, meta.get("labels") or {})

    @property
    def specificity(self) -> int:
        """3 by name, 2 by labels, 1 by namespace, 0 by kind alone."""
        return 3 if self.name else 2 if self.selector is not None else 1 if self.namespace else 0


@dataclasses.dataclass(frozen=True)
class Terms:
    weight: int = 1
    min_replicas: int = 0
    max_replicas: int | None = None


@dataclasses.dataclass(frozen=True)
class Division:
    """Duplicated (every member runs the full count) or Divided by weights."""

    mode: str = DUPLICATED
    # member name (or ANY) -> its terms; a member without an entry takes ANY's, else
    # Terms() (weight 1, no minimum, no maximum)
    terms: Mapping[str, Terms] = dataclasses.field(default_factory=dict)
    rebalance: bool = False  # re-divide from scratch every time (Federation v1's meaning)

    def share(self, member: str, capacity: int | None = None) -> division.Share:
        t = self.terms.get(member) or self.terms.get(ANY) or Terms()
        top = t.max_replicas
        if capacity is not None:
            top = capacity if top is None else min(top, capacity)
        return division.Share(member, t.weight, t.min_replicas, top)


@dataclasses.dataclass(frozen=True)
class Failover:
    toleration_seconds: float = DEFAULT_TOLERATION
    rebalance_on_recovery: bool = False


EVERY_MEMBER = (members.MemberGroup("all"),)


@dataclasses.dataclass(frozen=True)
class Policy:
    name: str = ""
    namespace: str = ""  # a namespaced Placement selects templates of its namespace only
    priority: int = 0
    resources: tuple[ResourceSelector, ...] = ()
    groups: tuple[members.MemberGroup, ...] = EVERY_MEMBER
    spread: tuple[members.Spread, ...] = ()
    division: Division = Division()
    failover: Failover = Failover()


def _int(value: Any, where: str, problems: Problems, minimum: int = 0) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
        problems.add(where, f"must be {kind}, got {value!r}")
        return None
    return value


def _bool(value: Any, where: str, problems: Problems) -> bool:
    if not isinstance(value, bool):
        problems.add(where, f"must be true or false, got {value!r}")
        return False
    return value


def _strings(value: Any, where: str, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(where, f"must be a list of non-empty strings, got {value!r}")
        return ()
    return tuple(value)


def _mapping(value: Any, where: str, problems: Problems) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(where, f"must be a mapping, got {value!r}")
        return {}
    return value


def _unknown(doc: Mapping[str, Any], known: tuple[str, ...], where: str,
             problems: Problems) -> None:
    for field in doc:
        if field not in known:
            problems.add(f"{where}.{field}", "unknown field")


def _resource(doc: Any, where: str, problems: Problems) -> ResourceSelector | None:
    if not isinstance(doc, Mapping):
        problems.add(where, f"must be a mapping, got {doc!r}")
        return None
    _unknown(doc, ("apiVersion", "kind", "namespace", "name", "labelSelector"), where, problems)
    values = {}
    for field in ("apiVersion", "kind", "namespace", "name"):
        value = doc.get(field, "")
        if not isinstance(value, str):
            problems.add(f"{where}.{field}", f"must be a string, got {value!r}")
            value = ""
        if field in ("apiVersion", "kind") and not value:
            problems.add(f"{where}.{field}", "Required value")
        values[field] = value
    selector = None
    if doc.get("labelSelector") is not None:
        selector = labels.from_label_selector(doc["labelSelector"], f"{where}.labelSelector",
                                              problems)
    return ResourceSelector(values["apiVersion"], values["kind"], values["namespace"],
                            values["name"], selector)


def _group(doc: Any, index: int, where: str, problems: Problems) -> members.MemberGroup:
    if not isinstance(doc, Mapping):
        problems.add(where, f"must be a mapping, got {doc!r}")
        return members.MemberGroup(str(index))
    _unknown(doc, GROUP_FIELDS, where, problems)
    name = doc.get("name", str(index))
    if not isinstance(name, str) or not name:
        problems.add(f"{where}.name", f"must be a non-empty string, got {name!r}")
        name = str(index)
    selector = None
    if doc.get("labelSelector") is not None:
        selector = labels.from_label_selector(doc["labelSelector"], f"{where}.labelSelector",
                                              problems)
    return members.MemberGroup(
        name, _strings(doc.get("names"), f"{where}.names", problems), selector,
        _strings(doc.get("regions"), f"{where}.regions", problems),
        _strings(doc.get("zones"), f"{where}.zones", problems),
        _strings(doc.get("exclude"), f"{where}.exclude", problems))


def _spread(doc: Any, where: str, problems: Problems) -> members.Spread | None:
    if not isinstance(doc, Mapping):
        problems.add(where, f"must be a mapping, got {doc!r}")
        return None
    _unknown(doc, ("spreadByField", "minGroups", "maxGroups"), where, problems)
    by = doc.get("spreadByField")
    if by not in members.SPREAD_FIELDS:
        problems.add(f"{where}.spreadByField", f'Unsupported value: "{by}": supported values: '
                     + ", ".join(f'"{f}"' for f in members.SPREAD_FIELDS))
    low = _int(doc.get("minGroups", 1), f"{where}.minGroups", problems, 1)
    high = doc.get("maxGroups")
    if high is not None:
        high = _int(high, f"{where}.maxGroups", problems, 1)
        if high is not None and low is not None and high < low:
            problems.add(f"{where}.maxGroups", f"must be >= minGroups ({low}), got {high}")
    if by not in members.SPREAD_FIELDS or low is None:
        return None
    return members.Spread(str(by), low, high)


def _division(doc: Mapping[str, Any], where: str, problems: Problems) -> Division:
    _unknown(doc, DIVISION_FIELDS, where, problems)
    mode = doc.get("type", DUPLICATED)
    if mode not in (DUPLICATED, DIVIDED):
        problems.add(f"{where}.type", f'Unsupported value: "{mode}": supported values: '
                                      f'"{DIVIDED}", "{DUPLICATED}"')
        mode = DUPLICATED
    maps = {field: _mapping(doc.get(field), f"{where}.{field}", problems)
            for field in ("weights", "minReplicas", "maxReplicas")}
    parsed: dict[str, dict[str, int]] = {field: {} for field in maps}
    for field, entries in maps.items():
        for member, value in entries.items():
            number = _int(value, f"{where}.{field}.{member}", problems)
            if number is not None:
                parsed[field][str(member)] = number
    if mode == DUPLICATED and any(maps.values()):
        problems.add(f"{where}.type", f"must be {DIVIDED} for weights, minReplicas or "
                                      f"maxReplicas to apply, got {mode}")
    base = Terms(parsed["weights"].get(ANY, 1), parsed["minReplicas"].get(ANY, 0),
                 parsed["maxReplicas"].get(ANY))
    terms: dict[str, Terms] = {}
    named = {m for entries in parsed.values() for m in entries}
    for member in sorted(named | {ANY} if named else ()):
        t = Terms(parsed["weights"].get(member, base.weight),
                  parsed["minReplicas"].get(member, base.min_replicas),
                  parsed["maxReplicas"].get(member, base.max_replicas))
        if t.max_replicas is not None and t.min_replicas > t.max_replicas:
            problems.add(f"{where}.minReplicas.{member}",
                         f"must not exceed maxReplicas ({t.max_replicas}), got {t.min_replicas}")
        terms[member] = t
    return Division(str(mode), terms, _bool(doc.get("rebalance", False), f"{where}.rebalance",
                                            problems))


def _failover(doc: Mapping[str, Any], where: str, problems: Problems) -> Failover:
    _unknown(doc, ("tolerationSeconds", "rebalanceOnRecovery"), where, problems)
    seconds = _int(doc.get("tolerationSeconds", DEFAULT_TOLERATION),
                   f"{where}.tolerationSeconds", problems)
    return Failover(DEFAULT_TOLERATION if seconds is None else seconds,
                    _bool(doc.get("rebalanceOnRecovery", False), f"{where}.rebalanceOnRecovery",
                          problems))


def from_dict(obj: Any) -> Policy:
    """A whole ``Placement`` object -> Policy; PolicyInvalid lists every problem."""
    problems = Problems()
    if not isinstance(obj, Mapping):
        problems.add("", f"must be a Placement object (a mapping), got {obj!r}")
        problems.raise_if_any()
    if obj.get("apiVersion") != API_VERSION:
        problems.add("apiVersion", f'Unsupported value: "{obj.get("apiVersion")}": '
                                   f'supported values: "{API_VERSION}"')
    if obj.get("kind") != KIND:
        problems.add("kind", f'Unsupported value: "{obj.get("kind")}": supported values: '
                             f'"{KIND}"')
    meta = _mapping(obj.get("metadata"), "metadata", problems)
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    if not isinstance(name, str) or not name:
        problems.add("metadata.name", "Required value")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        problems.add("spec", "Required value" if spec is None else f"must be a mapping, "
                                                                   f"got {spec!r}")
        problems.raise_if_any()
    _unknown(spec, SPEC_FIELDS, "spec", problems)
    raw = spec.get("resourceSelectors")
    resources: list[ResourceSelector] = []
    if not isinstance(raw, list) or not raw:
        problems.add("spec.resourceSelectors", "Required value" if raw is None else
                     f"must be a non-empty list, got {raw!r}")
    else:
        for i, doc in enumerate(raw):
            r = _resource(doc, f"spec.resourceSelectors[{i}]", problems)
            if r is not None:
                resources.append(r)
    priority = spec.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        problems.add("spec.priority", f"must be an integer, got {priority!r}")
        priority = 0
    groups: list[members.MemberGroup] = []
    raw_groups = spec.get("members")
    if raw_groups is not None and (not isinstance(raw_groups, list) or not raw_groups):
        problems.add("spec.members", f"must be a non-empty list of member groups, "
                                     f"got {raw_groups!r}")
    elif raw_groups:
        seen: set[str] = set()
        for i, doc in enumerate(raw_groups):
            group = _group(doc, i, f"spec.members[{i}]", problems)
            if group.name in seen:
                problems.add(f"spec.members[{i}].name", f'Duplicate value: "{group.name}"')
            seen.add(group.name)
            groups.append(group)
    rules: list[members.Spread] = []
    raw_spread = spec.get("spread") or []
    if not isinstance(raw_spread, list):
        problems.add("spec.spread", f"must be a list, got {raw_spread!r}")
        raw_spread = []
    for i, doc in enumerate(raw_spread):
        rule = _spread(doc, f"spec.spread[{i}]", problems)
        if rule is not None:
            if any(r.by == rule.by for r in rules):
                problems.add(f"spec.spread[{i}].spreadByField", f'Duplicate value: "{rule.by}"')
            rules.append(rule)
    div = _division(_mapping(spec.get("division"), "spec.division", problems), "spec.division",
                    problems)
    fail = _failover(_mapping(spec.get("failover"), "spec.failover", problems), "spec.failover",
                     problems)
    problems.raise_if_any()
    return Policy(str(name), str(namespace or ""), priority, tuple(resources),
                  tuple(groups) or EVERY_MEMBER, tuple(rules), div, fail)
