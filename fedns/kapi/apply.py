"""Server-side apply, minimal: field ownership per manager, merge, conflicts.

An apply body is a manager's whole intent.  Each manager that applies owns the
fields of its last body (``metadata.managedFields``, ``operation: Apply``,
``FieldsV1``).  Applying again merges the body into the live object, removes the
fields the manager owned before but no longer sends (unless another manager owns
them too), and refuses with a conflict when another applier owns a field whose value
would change, unless ``force``, which takes the field over.  Lists that merge by
key in :mod:`fedns.kapi.strategic` are owned item by item (``k:{"port":80}``);
other lists are atomic.  Writes that are not applies do not record ownership
(kube-apiserver records them as ``Update`` managers): a known simplification.
Pure.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from fedns.kapi import strategic

Obj = dict[str, Any]
Path = tuple[str, ...]  # FieldsV1 keys from the root: ("f:spec", "f:ports", 'k:{"port":80}')

_SKIP_TOP = {"apiVersion", "kind", "status"}
_SKIP_META = {"name", "namespace", "resourceVersion", "managedFields", "uid",
              "creationTimestamp", "generation", "deletionTimestamp", "selfLink"}
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Conflict:
    manager: str
    field: str  # ".spec.replicas"
    path: Path = ()


def _item_key(item: Any, merge_key: str) -> str:
    return "k:" + json.dumps({merge_key: item.get(merge_key)}, separators=(",", ":"))


def field_set(obj: Obj, rules: dict[Path, strategic.ListRule] | None = None) -> set[Path]:
    """The leaf fields a body sets, as FieldsV1 paths."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in _SKIP_TOP:
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey not in _SKIP_META:
                    _walk(mvalue, ("f:metadata", f"f:{mkey}"), ("metadata", mkey), paths, rules)
            continue
        _walk(value, (f"f:{key}",), (key,), paths, rules)
    return paths


def _walk(value: Any, path: Path, names: tuple[str, ...], paths: set[Path],
          rules: dict[Path, strategic.ListRule] | None) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _walk(child, path + (f"f:{key}",), names + (key,), paths, rules)
        return
    rule = strategic.list_rule(names, rules) if isinstance(value, list) else None
    if isinstance(value, list) and rule is not None and rule.merge_key is not None and value \
            and all(isinstance(i, dict) and rule.merge_key in i for i in value):
        for item in value:
            item_path = path + (_item_key(item, rule.merge_key),)
            paths.add(item_path + (".",))
            for key, child in item.items():
                _walk(child, item_path + (f"f:{key}",), names + (key,), paths, rules)
        return
    paths.add(path)


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for segment in path:
            node = node.setdefault(segment, {})
    return tree


def from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in tree.items():
        if isinstance(child, dict) and child:
            paths |= from_fields_v1(child, prefix + (key,))
        else:
            paths.add(prefix + (key,))
    return paths


def _child(node: Any, segment: str) -> Any:
    if segment.startswith("f:") and isinstance(node, dict):
        return node.get(segment[2:], _MISSING)
    if segment.startswith("k:") and isinstance(node, list):
        wanted = json.loads(segment[2:])
        for item in node:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                return item
    return _MISSING


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for segment in path:
        if segment == ".":
            return node
        node = _child(node, segment)
        if node is _MISSING:
            return _MISSING
    return node


def remove(obj: Obj, path: Path) -> None:
    """Delete the field (or keyed list item, for a ``.`` path) at ``path``, in place."""
    if path and path[-1] == ".":
        path = path[:-1]
    if not path:
        return
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        target = _child(parent, last)
        if target is not _MISSING:
            parent.remove(target)


def dotted(path: Path) -> str:
    parts = []
    for segment in path:
        if segment == ".":
            continue
        parts.append("." + segment[2:] if segment.startswith("f:") else f"[{segment[2:]}]")
    return "".join(parts)


def owners(managed: list[Obj] | None) -> dict[str, set[Path]]:
    """Fields per apply manager, from ``metadata.managedFields``."""
    found: dict[str, set[Path]] = {}
    for entry in managed or []:
        if entry.get("operation") == "Apply" and entry.get("manager"):
            found[str(entry["manager"])] = from_fields_v1(entry.get("fieldsV1") or {})
    return found


def conflicts(live: Obj, body: Obj, mine: set[Path], manager: str,
              others: dict[str, set[Path]]) -> list[Conflict]:
    found = []
    for other, paths in sorted(others.items()):
        if other == manager:
            continue
        for path in sorted(paths & mine):
            if path[-1] == ".":
                continue
            if value_at(live, path) != value_at(body, path):
                found.append(Conflict(other, dotted(path), path))
    return found


def merge(live: Any, body: Any, names: tuple[str, ...] = (),
          rules: dict[Path, strategic.ListRule] | None = None) -> Any:
    """``body`` merged into ``live``: maps key by key, keyed lists item by item, the rest
    replaced."""
    if isinstance(live, dict) and isinstance(body, dict):
        result = dict(live)
        for key, value in body.items():
            if value is None:
                result.pop(key, None)
                continue
            result[key] = merge(live.get(key, _MISSING), value, names + (key,), rules) \
                if key in live else copy.deepcopy(value)
        return result
    if isinstance(live, list) and isinstance(body, list):
        rule = strategic.list_rule(names, rules)
        if rule is not None and rule.merge_key is not None:
            key = rule.merge_key
            result_list = list(live)
            for item in body:
                for index, existing in enumerate(result_list):
                    if isinstance(existing, dict) and isinstance(item, dict) and \
                            existing.get(key) == item.get(key):
                        result_list[index] = merge(existing, item, names, rules)
                        break
                else:
                    result_list.append(copy.deepcopy(item))
            return result_list
    return copy.deepcopy(body)


@dataclasses.dataclass
class Outcome:
    obj: Obj
    managed: list[Obj]
    conflicts: list[Conflict]


def apply(live: Obj | None, body: Obj, manager: str, *, force: bool, api_version: str,
          now: str, rules: dict[Path, strategic.ListRule] | None = None) -> Outcome:
    """The object and managedFields after ``manager`` applies ``body`` to ``live``
    (None: the object does not exist yet).  ``conflicts`` is non-empty (and nothing
    else meaningful) when the apply must be refused."""
    mine = field_set(body, rules)
    live = copy.deepcopy(live) if live is not None else {}
    managed = list((live.get("metadata") or {}).get("managedFields") or [])
    others = {m: p for m, p in owners(managed).items() if m != manager}
    before = owners(managed).get(manager, set())
    found = conflicts(live, body, mine, manager, others)
    if found and not force:
        return Outcome(live, managed, found)
    if force:  # the conflicting fields change hands; agreeing ones stay shared
        taken: dict[str, set[Path]] = {}
        for conflict in found:
            taken.setdefault(conflict.manager, set()).add(conflict.path)
        others = {m: p - taken.get(m, set()) for m, p in others.items()}
    kept_by_others = set().union(*others.values()) if others else set()
    result = live
    # whole keyed-list items first (their key is still there to find them), then the
    # deepest fields first
    owned = mine | kept_by_others
    for path in sorted(before - mine - kept_by_others,
                       key=lambda p: (p[-1] != ".", -len(p))):
        remove(result, path)
        # a map emptied by the removal goes too, unless someone owns it as a field
        parent = path[:-2] if path[-1] == "." else path[:-1]
        while len(parent) >= 2 and parent not in owned and value_at(result, parent) == {}:
            remove(result, parent)
            parent = parent[:-1]
    result = merge(result, body, (), rules)
    entries = []
    for entry in managed:
        name = entry.get("manager")
        if entry.get("operation") != "Apply" or name == manager:
            continue
        if name in others and others[name] != from_fields_v1(entry.get("fieldsV1") or {}):
            if not others[name]:
                continue
            entry = dict(entry, fieldsV1=to_fields_v1(others[name]), time=now)
        entries.append(entry)
    old_entry = next((e for e in managed if e.get("manager") == manager
                      and e.get("operation") == "Apply"), None)
    time = old_entry.get("time", now) if old_entry is not None and before == mine else now
    entries.append({"manager": manager, "operation": "Apply", "apiVersion": api_version,
                    "time": time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(mine)})
    return Outcome(result, entries, [])
