"""Strategic merge patch, as kube-apiserver applies it to built-in kinds.

A strategic merge patch is a merge patch in which some lists merge item by item on a
*merge key* (containers by ``name``, Service ports by ``port``, conditions by
``type``) instead of being replaced.  Which lists do so is fixed by the Go struct tags
of the Kubernetes API (``patchStrategy:"merge" patchMergeKey:"..."``); the table
:data:`LIST_RULES` copies them, keyed by the trailing field names of the list's
path.  Lists not in the table are replaced, as upstream does for atomic lists (for
example EndpointSlice ``endpoints`` and Endpoints ``subsets``), so three-way patches
that kubectl computes from the same tags give the same result here.

Directives: ``null`` deletes a key; ``$patch: replace|delete|merge`` on maps and
list items; ``$retainKeys``; ``$setElementOrder/<list>``;
``$deleteFromPrimitiveList/<list>``.  Pure.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from fedns.kapi import patch as jsonpatch


@dataclasses.dataclass(frozen=True)
class ListRule:
    """How a list merges: on ``merge_key``, or as a set of scalars when it is None."""

    merge_key: str | None


_NAME = ListRule("name")
_PRIMITIVE = ListRule(None)

# Path suffix (field names, list positions left out) -> rule.  The longest suffix wins.
LIST_RULES: dict[tuple[str, ...], ListRule] = {
    ("metadata", "finalizers"): _PRIMITIVE,
    ("metadata", "ownerReferences"): ListRule("uid"),
    ("containers",): _NAME,
    ("initContainers",): _NAME,
    ("ephemeralContainers",): _NAME,
    ("containers", "ports"): ListRule("containerPort"),
    ("initContainers", "ports"): ListRule("containerPort"),
    ("ephemeralContainers", "ports"): ListRule("containerPort"),
    ("env",): _NAME,
    ("volumeMounts",): ListRule("mountPath"),
    ("volumeDevices",): ListRule("devicePath"),
    ("volumes",): _NAME,
    ("imagePullSecrets",): _NAME,
    ("hostAliases",): ListRule("ip"),
    ("topologySpreadConstraints",): ListRule("topologyKey"),
    ("resourceClaims",): _NAME,
    ("schedulingGates",): _NAME,
    ("conditions",): ListRule("type"),
    ("spec", "ports"): ListRule("port"),  # Service
    ("status", "addresses"): ListRule("type"),  # Node
    ("spec", "podCIDRs"): _PRIMITIVE,  # Node
    ("status", "podIPs"): ListRule("ip"),
    ("status", "hostIPs"): ListRule("ip"),
}

_DELETE = object()  # a map patched with "$patch: delete"


def list_rule(path: tuple[str, ...],
              rules: dict[tuple[str, ...], ListRule] | None = None) -> ListRule | None:
    rules = LIST_RULES if rules is None else rules
    for start in range(len(path)):
        rule = rules.get(path[start:])
        if rule is not None:
            return rule
    return None


def apply(doc: dict[str, Any], patch: dict[str, Any],
          rules: dict[tuple[str, ...], ListRule] | None = None) -> dict[str, Any]:
    """``doc`` with the strategic merge ``patch`` applied; inputs are not modified."""
    if not isinstance(patch, dict):
        raise jsonpatch.BadPatch("a strategic merge patch must be a JSON object")
    result = _merge_map(copy.deepcopy(doc), patch, (), LIST_RULES if rules is None else rules)
    return {} if result is _DELETE else result


def _merge_map(orig: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...],
               rules: dict[tuple[str, ...], ListRule]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _clean({k: v for k, v in patch.items() if k != "$patch"})
    if directive not in (None, "merge"):
        raise jsonpatch.BadPatch(f"unknown patch directive {directive!r} at {'.'.join(path)}")
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise jsonpatch.BadPatch("$retainKeys must be a list")
        orig = {k: v for k, v in orig.items() if k in retain}
    result = dict(orig)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in (value or [])]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        child = path + (key,)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            base = result.get(key)
            merged = _merge_map(base if isinstance(base, dict) else {}, value, child, rules)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            rule = list_rule(child, rules)
            base = result.get(key)
            if rule is None:
                result[key] = _clean(value)
            else:
                result[key] = _merge_list(base if isinstance(base, list) else [], value,
                                          rule, child, rules)
        else:
            result[key] = value
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            rule = list_rule(path + (field,), rules)
            if isinstance(result.get(field), list) and isinstance(order, list):
                result[field] = _set_order(result[field], order, orig.get(field) or [],
                                           rule.merge_key if rule else None)
    return result


def _merge_list(orig: list[Any], patch: list[Any], rule: ListRule, path: tuple[str, ...],
                rules: dict[tuple[str, ...], ListRule]) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" and len(i) == 1 for i in patch):
        return _clean([i for i in patch if not (isinstance(i, dict) and i.get("$patch"))])
    if rule.merge_key is None:
        result = list(orig)
        for item in patch:
            if item not in result:
                result.append(item)
        return result
    key = rule.merge_key
    result = list(orig)
    for item in patch:
        if not isinstance(item, dict):
            raise jsonpatch.BadPatch(f"list {'.'.join(path)} merges on {key!r}: "
                                     f"item {item!r} is not an object")
        if item.get("$patch") == "delete":
            result = [o for o in result
                      if not (isinstance(o, dict) and o.get(key) == item.get(key))]
            continue
        if key not in item:
            raise jsonpatch.BadPatch(f"map {item!r} in list {'.'.join(path)} has no merge "
                                     f"key {key!r}")
        for index, existing in enumerate(result):
            if isinstance(existing, dict) and existing.get(key) == item[key]:
                merged = _merge_map(existing, item, path, rules)
                result[index] = merged
                break
        else:
            merged = _merge_map({}, item, path, rules)
            result.append(merged)
    return [item for item in result if item is not _DELETE]


def _identity(item: Any, merge_key: str | None) -> Any:
    if merge_key is not None and isinstance(item, dict):
        return ("key", repr(item.get(merge_key)))
    return ("value", repr(item))


def _set_order(merged: list[Any], order: list[Any], server: list[Any],
               merge_key: str | None) -> list[Any]:
    """Reorder as apimachinery's normalizeElementOrder: items named by ``order`` in that
    order, the server-only items interleaved by their position in ``server``."""
    ranks = {_identity(item, merge_key): i for i, item in enumerate(order)}
    server_pos = {_identity(item, merge_key): i for i, item in enumerate(server)}
    named = sorted((m for m in merged if _identity(m, merge_key) in ranks),
                   key=lambda m: ranks[_identity(m, merge_key)])
    others = sorted((m for m in merged if _identity(m, merge_key) not in ranks),
                    key=lambda m: server_pos.get(_identity(m, merge_key), len(server)))
    result: list[Any] = []
    i = j = 0
    while i < len(others) or j < len(named):
        if i >= len(others):
            result.append(named[j])
            j += 1
        elif j >= len(named):
            result.append(others[i])
            i += 1
        else:
            left = server_pos.get(_identity(others[i], merge_key))
            right = server_pos.get(_identity(named[j], merge_key))
            if left is not None and right is not None and left < right:
                result.append(others[i])
                i += 1
            else:
                result.append(named[j])
                j += 1
    return result


def _clean(value: Any) -> Any:
    """Drop directive keys from a value that replaces rather than merges."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
