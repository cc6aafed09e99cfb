"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) over plain JSON values.

Both return a new document and never modify their inputs.  Strategic merge patch,
which needs to know list merge keys, lives in :mod:`fedns.kapi.strategic`.  Pure.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fedns import errors

# what "copy" operations of one JSON patch may add, in bytes of JSON: without a bound,
# a few dozen copies of the document into itself make gigabytes (kube-apiserver sets
# json-patch's AccumulatedCopySizeLimit to its 3 MiB request limit too)
MAX_COPIED_BYTES = 3 * 1024 * 1024


class BadPatch(errors.UsageError):
    """The patch cannot be applied."""


class TestFailed(BadPatch):
    """A JSON patch ``test`` operation did not hold."""


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise BadPatch(f"invalid JSON pointer {path!r}: must be a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise BadPatch(f"invalid JSON pointer {path!r}: must start with '/'")
    return [_unescape(t) for t in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise BadPatch(f"invalid array index {token!r} in {path!r}")
    index = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if index > limit:
        raise BadPatch(f"array index {index} out of range in {path!r}")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise BadPatch(f"path {path!r} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, allow_end=False)]
        else:
            raise BadPatch(f"path {path!r} does not exist")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise BadPatch(f"path {path!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, allow_end=False)]
    raise BadPatch(f"path {path!r} does not exist")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise BadPatch(f"path {path!r} does not exist")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise BadPatch("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise BadPatch(f"unable to remove nonexistent key {last!r}: path {path!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, allow_end=False))
    raise BadPatch(f"path {path!r} does not exist")


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902: apply ``operations`` (a list of op objects) in order."""
    if not isinstance(operations, list):
        raise BadPatch("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    copied = 0
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise BadPatch(f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise BadPatch(f"JSON patch operation {kind!r} at {path!r} has no value")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            if _pointer(path):
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = op.get("from")
            if source is None:
                raise BadPatch(f"JSON patch operation {kind!r} has no 'from'")
            if kind == "move":
                doc, value = _remove(doc, source)
            else:
                value = copy.deepcopy(_get(doc, source))
                copied += len(json.dumps(value, separators=(",", ":")))
                if copied > MAX_COPIED_BYTES:
                    raise BadPatch(f"unable to complete the copy: the accumulated size "
                                   f"increase of copy is {copied}, exceeding the limit "
                                   f"{MAX_COPIED_BYTES}")
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise TestFailed(f"testing value {path} failed")
        else:
            raise BadPatch(f"unknown JSON patch operation {kind!r}")
    return doc
