"""Overrides: a template changed for some members only (``fedns.io/v1alpha1`` Override).

An Override names the templates it changes (``spec.resourceSelector``: apiVersion,
kind, and optionally name, in the Override's own namespace) and, per rule, the
members (``members``: names; ``memberSelector``: matchLabels on the members' labels;
neither: every member) and the RFC 6902 operations to apply to their copies (``add``,
``remove``, ``replace``).  Paths that would change what the object is (apiVersion,
kind, metadata.name, metadata.namespace, the whole metadata) are refused.

``parse(obj)`` validates (raising :class:`OverrideInvalid` with every problem as
``(field, message)``), ``patches_for(overrides, template, member, labels)`` lists the
operations for one member's copy (overrides in name order, rules in order), and
``apply(manifest, operations)`` applies them (raising :class:`OverrideFailed`).
Pure: stdlib and fedns.errors.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fedns import errors

Obj = dict[str, Any]
OPS = ("add", "remove", "replace")
# paths (as pointers) that change an object's identity
IDENTITY = ("", "/apiVersion", "/kind", "/metadata", "/metadata/name", "/metadata/namespace",
            "/metadata/uid", "/metadata/generateName")


class OverrideInvalid(errors.UsageError):
    """The Override is not valid."""

    def __init__(self, causes: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in causes))
        self.causes = causes


class OverrideFailed(errors.PermanentError):
    """An Override's operation does not fit the template."""


@dataclasses.dataclass(frozen=True)
class Rule:
    members: tuple[str, ...]  # empty: any member the selector allows
    selector: tuple[tuple[str, str], ...]  # matchLabels
    operations: tuple[Obj, ...]

    def selects(self, member: str, labels: Mapping[str, str]) -> bool:
        if self.members and member not in self.members:
            return False
        return all(labels.get(k) == v for k, v in self.selector)


@dataclasses.dataclass(frozen=True)
class Override:
    name: str
    namespace: str
    api_version: str
    kind: str
    target: str  # a template name, or "" for every template of the kind
    rules: tuple[Rule, ...]

    def applies(self, template: Obj) -> bool:
        meta = template.get("metadata") or {}
        return (template.get("apiVersion") == self.api_version
                and template.get("kind") == self.kind
                and (meta.get("namespace") or "") == self.namespace
                and (not self.target or meta.get("name") == self.target))


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _canonical(path: str) -> str:
    return "/" + "/".join(_pointer(path)) if path else ""


def parse(obj: Obj) -> Override:
    """The Override ``obj`` describes; raises OverrideInvalid naming every problem."""
    causes: list[tuple[str, str]] = []
    meta: Obj = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise OverrideInvalid([("spec", ("Required value: a mapping with resourceSelector "
                                        "and rules"))])
    for field in spec:
        if field not in ("resourceSelector", "rules"):
            causes.append((f"spec.{field}", "unknown field"))
    selector = spec.get("resourceSelector")
    if not isinstance(selector, dict):
        causes.append(("spec.resourceSelector", "Required value: apiVersion and kind"))
        selector = {}
    for field in ("apiVersion", "kind"):
        if not isinstance(selector.get(field), str) or not selector.get(field):
            causes.append((f"spec.resourceSelector.{field}", "Required value"))
    if not isinstance(selector.get("name", ""), str):
        causes.append(("spec.resourceSelector.name", "must be a string"))
    for field in selector:
        if field not in ("apiVersion", "kind", "name"):
            causes.append((f"spec.resourceSelector.{field}", "unknown field"))
    rules = spec.get("rules")
    if not isinstance(rules, list) or not rules:
        causes.append(("spec.rules", "Required value: at least one rule"))
        rules = []
    parsed = [_rule(rule, f"spec.rules[{i}]", causes) for i, rule in enumerate(rules)]
    if causes:
        raise OverrideInvalid(causes)
    return Override(str(meta.get("name") or ""), str(meta.get("namespace") or ""),
                    selector["apiVersion"], selector["kind"], selector.get("name", ""),
                    tuple(r for r in parsed if r is not None))


def _rule(rule: Any, where: str, causes: list[tuple[str, str]]) -> Rule | None:
    if not isinstance(rule, dict):
        causes.append((where, "must be a mapping"))
        return None
    for field in rule:
        if field not in ("members", "memberSelector", "patches"):
            causes.append((f"{where}.{field}", "unknown field"))
    members = rule.get("members") or []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        causes.append((f"{where}.members", "must be a list of member names"))
        members = []
    labels: Any = (rule.get("memberSelector") or {})
    labels = labels.get("matchLabels", {}) if isinstance(labels, dict) else None
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in labels.items()):
        causes.append((f"{where}.memberSelector", "must be {matchLabels: {key: value}}"))
        labels = {}
    patches = rule.get("patches")
    if not isinstance(patches, list) or not patches:
        causes.append((f"{where}.patches", "Required value: at least one operation"))
        patches = []
    for j, op in enumerate(patches):
        at = f"{where}.patches[{j}]"
        if not isinstance(op, dict):
            causes.append((at, "must be a mapping with op and path"))
            continue
        if op.get("op") not in OPS:
            causes.append((f"{at}.op", (f"Unsupported value: {op.get('op')!r}: supported "
                                       "values: \"add\", \"remove\", \"replace\"")))
        path = op.get("path")
        if not isinstance(path, str) or (path and not path.startswith("/")):
            causes.append((f"{at}.path", f"Invalid value: {path!r}: a JSON pointer (/a/b)"))
        elif _canonical(path) in IDENTITY:
            causes.append((f"{at}.path", f"Forbidden: {path!r} changes the object's identity"))
        if op.get("op") in ("add", "replace") and "value" not in op:
            causes.append((f"{at}.value", "Required value"))
    return Rule(tuple(members), tuple(sorted(labels.items())),
                tuple(copy.deepcopy(op) for op in patches if isinstance(op, dict)))


def patches_for(overrides: Iterable[Override], template: Obj, member: str,
                labels: Mapping[str, str]) -> list[Obj]:
    """The operations for ``member``'s copy of ``template`` (Overrides by name)."""
    found: list[Obj] = []
    for override in sorted(overrides, key=lambda o: (o.namespace, o.name)):
        if override.applies(template):
            for rule in override.rules:
                if rule.selects(member, labels):
                    found.extend({**op, "override": override.name} for op in rule.operations)
    return found


def apply(manifest: Obj, operations: Sequence[Obj]) -> Obj:
    """``manifest`` with ``operations`` applied (a copy); OverrideFailed when a path does
    not fit (names the Override and the path)."""
    doc: Any = copy.deepcopy(manifest)
    for op in operations:
        try:
            doc = _apply_one(doc, op["op"], _pointer(op["path"]), op.get("value"))
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise OverrideFailed(f"override {op.get('override', '')!r}: {op['op']} "
                                 f"{op['path']}: the path does not fit the template "
                                 f"({type(err).__name__})") from err
    return doc


def _index(part: str, size: int) -> int:
    """An array index of a pointer: digits only, inside the array."""
    if not part.isdigit() or int(part) >= size:
        raise IndexError(part)
    return int(part)


def _apply_one(doc: Any, op: str, parts: list[str], value: Any) -> Any:
    if not parts:
        return copy.deepcopy(value) if op != "remove" else None
    parent = doc
    for part in parts[:-1]:
        parent = parent[_index(part, len(parent))] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if isinstance(parent, list):
        if op == "add":
            index = len(parent) if last == "-" else _index(last, len(parent) + 1)
            parent.insert(index, copy.deepcopy(value))
        elif op == "remove":
            del parent[_index(last, len(parent))]
        else:
            parent[_index(last, len(parent))] = copy.deepcopy(value)
    elif isinstance(parent, dict):
        if (op == "remove" or op == "replace") and last not in parent:
            raise KeyError(last)
        if op == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(value)
    else:
        raise TypeError(type(parent).__name__)
    return doc
