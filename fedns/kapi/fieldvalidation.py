"""``fieldValidation``: fields an object's schema does not name are refused, warned
about or dropped, as kube-apiserver does.

Unknown fields are found by walking the object against its kind's schema (kube's
own for built-in kinds, :mod:`fedns.kapi.schemas`; the CRD's for custom kinds) and
are never stored.  By directive:

- ``Strict``: create and update fail with 400 ``<Kind> in version "<v>" cannot be
  handled as a <Kind>: strict decoding error: unknown field "spec.bogus"``; a patch
  fails with 422 (``The request is invalid: patch: ...``);
- ``Warn`` (the default for API requests): each field gives a ``Warning`` header
  ``299 - "unknown field \\"spec.bogus\\""`` and is dropped;
- ``Ignore``: dropped silently.

Server-side apply refuses unknown fields whatever the directive (``failed to create
typed patch object (...): .spec.bogus: field not declared in schema``), as kube's
typed apply does.

The server sets the directive of a request in :data:`DIRECTIVE` and collects the
warnings of :data:`WARNINGS`; writes made in process (controllers) leave
:data:`DIRECTIVE` unset and are not walked.  Pure.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from fedns.kapi import fieldplans, schemas, status
from fedns.kapi.registry import Kind

Obj = dict[str, Any]

DIRECTIVES = ("Strict", "Warn", "Ignore")
DIRECTIVE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kapi_field_validation", default=None)
WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "kapi_warnings", default=None)
_ROOT = fieldplans.ROOT


def directive(text: str) -> str:
    """The query parameter as a directive (absent: Warn); 400 for anything else."""
    if not text:
        return "Warn"
    if text not in DIRECTIVES:
        raise status.bad_request(f'fieldValidation "{text}" is invalid: valid values are '
                                 '"Ignore", "Warn" and "Strict"')
    return text


class _Walk:
    """One walk of an object: the unknown fields as (strict path, apply path)."""

    def __init__(self, prune: bool) -> None:
        self.prune = prune
        self.found: list[tuple[str, str]] = []

    def node(self, value: Any, schema: Obj, path: str, apply_path: str) -> None:
        schema = schemas.merged(schema)
        if schema.get("x-kubernetes-preserve-unknown-fields") or \
                schema.get("x-kubernetes-int-or-string"):
            return
        if isinstance(value, dict):
            self.mapping(value, schema, path, apply_path)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            keys = schema.get("x-kubernetes-list-map-keys") or []
            for index, item in enumerate(value):
                if keys and isinstance(item, dict):
                    selector = ",".join(f"{k}={json.dumps(item.get(k))}" for k in keys)
                    item_apply = f"{apply_path}[{selector}]"
                else:
                    item_apply = f"{apply_path}[{index}]"
                self.node(item, schema["items"], f"{path}[{index}]", item_apply)

    def mapping(self, value: Obj, schema: Obj, path: str, apply_path: str,
                allowed: tuple[str, ...] = ()) -> None:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if properties is None:
            if isinstance(extra, dict):
                for key, item in value.items():
                    self.node(item, extra, f"{path}.{key}".lstrip("."), f"{apply_path}.{key}")
            return  # a free-form object
        embedded = schema.get("x-kubernetes-embedded-resource")
        for key in list(value):
            child = f"{path}.{key}".lstrip(".")
            child_apply = f"{apply_path}.{key}"
            if key in properties:
                self.node(value[key], properties[key], child, child_apply)
            elif key in allowed or (embedded and key in _ROOT):
                if key == "metadata" and isinstance(value[key], dict):
                    self.mapping(value[key], schemas.object_meta(), child, child_apply)
            elif isinstance(extra, dict):
                self.node(value[key], extra, child, child_apply)
            elif extra is True:
                continue
            else:
                self.found.append((child, child_apply))
                if self.prune:
                    del value[key]


def unknown(kind: Kind, obj: Obj, prune: bool = False) -> list[tuple[str, str]]:
    """The unknown fields of ``obj`` as (``spec.bogus``, ``.spec.bogus``) pairs, in
    document order; with ``prune`` they are removed from ``obj``.  The walk runs only
    for an object its compiled plan (:mod:`fedns.kapi.fieldplans`) does not pass."""
    walk = _Walk(prune)
    if kind.schema is not None:
        if kind.preserve_unknown or not fieldplans.has_unknown(
                fieldplans.root(kind.schema), obj, _ROOT):
            return []
        walk.mapping(obj, kind.schema, "", "", allowed=_ROOT)
        return walk.found
    name = schemas.component(kind)
    if name is None:
        return []  # a kind without a schema takes anything
    schema = schemas.definitions()[name]
    if not fieldplans.has_unknown(fieldplans.root(schema), obj):
        return []
    walk.mapping(obj, schema, "", "")
    return walk.found


def _strict_text(found: list[tuple[str, str]]) -> str:
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p, _ in found)


def go_value(value: Any) -> str:
    """``value`` as Go's ``%+v`` prints a decoded JSON value: ``map[a:1 b:[x y]]``."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(kind: Kind, obj: Obj, operation: str, name: str = "", namespace: str = "",
          patch: Any = None) -> None:
    """Apply the request's directive to ``obj`` (changed in place: unknown fields are
    dropped).  ``operation`` is create, update, patch or apply.  A refused patch quotes,
    as kube-apiserver does, a strategic merge patch (``patch``, in Go's map form) or
    else the patched object (JSON)."""
    how = DIRECTIVE.get()
    if how is None:
        return
    if operation == "apply":
        found = unknown(kind, obj)
        if found:
            gvk = f"{kind.api_version if kind.group else '/' + kind.version}, Kind={kind.kind}"
            # kube-apiserver has answered this with a 500; a bad request it is (4xx: the
            # client's body is wrong, and no request body gets a 500 here)
            raise status.ApiError(400, "BadRequest", (
                f"failed to create typed patch object ({namespace}/{name}; {gvk}): "
                + "; ".join(f"{p}: field not declared in schema" for _, p in found)))
        return
    quoted = "" if operation != "patch" or how != "Strict" else (
        go_value(patch) if patch is not None else json.dumps(obj, separators=(",", ":")))
    found = unknown(kind, obj, prune=True)
    if not found:
        return
    if how == "Strict":
        if operation == "patch":
            cause = f"Invalid value: {json.dumps(quoted)}: {_strict_text(found)}"
            raise status.ApiError(422, "Invalid", f' "" is invalid: patch: {cause}',
                                  {"causes": [{"reason": "FieldValueInvalid", "field": "patch",
                                               "message": cause}]})
        raise status.bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled '
                                 f"as a {kind.kind}: {_strict_text(found)}")
    if how == "Warn":
        warnings = WARNINGS.get()
        if warnings is not None:
            warnings.extend(f'unknown field "{p}"' for p, _ in found)


def warning_header(text: str) -> str:
    """An RFC 7234 ``Warning`` value as kube-apiserver sends it: ``299 - "<text>"``."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
