"""The real Kubernetes schemas of the built-in kinds, and OpenAPI documents made of them.

The schemas come from the ``kubernetes-validate`` package, which ships kube's OpenAPI
definitions per release as JSON Schema; the newest 1.3x release it has is used.
They are read once per process, on first use (a server that never validates or
explains never loads them), and shared by every server in it.  From them this
renders ``/openapi/v3/<group-version>`` components (``kubectl explain``) and the
``/openapi/v2`` definitions, and :mod:`fedns.kapi.fieldvalidation` walks them.
Custom kinds bring their own schema (``Kind.schema``, from their CRD).  Pure.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from typing import Any

from fedns import errors
from fedns.kapi.registry import Kind

Obj = dict[str, Any]

PACKAGE = "kubernetes_validate"
_RELEASE = re.compile(r"^v1\.(3\d)\.(\d+)-local$")
_DEFS = "#/$defs/"


class SchemasMissing(errors.FednsError):
    """The kubernetes-validate package, which holds the Kubernetes schemas, is not
    installed."""


def release_dir() -> str:
    """The directory of the newest 1.3x release's schemas in kubernetes-validate."""
    spec = importlib.util.find_spec(PACKAGE)  # located, not imported: it pulls jsonschema
    if spec is None or not spec.submodule_search_locations:
        raise SchemasMissing(f"install {PACKAGE} (pip install kubernetes-validate)")
    root = os.path.join(next(iter(spec.submodule_search_locations)), "kubernetes-json-schema")
    found = []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        matched = _RELEASE.match(name)
        if matched:
            found.append(((int(matched.group(1)), int(matched.group(2))), name))
    if not found:
        raise SchemasMissing(f"{PACKAGE} has no Kubernetes 1.3x schemas")
    return os.path.join(root, max(found)[1])


@functools.cache
def definitions() -> dict[str, Obj]:
    """Every definition by its OpenAPI name (``io.k8s.api.apps.v1.Deployment``)."""
    with open(os.path.join(release_dir(), "_definitions.json"), "rb") as handle:
        loaded: dict[str, Obj] = json.load(handle)["$defs"]
    return loaded


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    found: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            found.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk["kind"]), name)
    return found


def component(kind: Kind) -> str | None:
    """The definition name of a built-in kind, None for a kind kube does not have."""
    if kind.schema is not None:
        return None
    return _by_gvk().get((kind.group, kind.version, kind.kind))


def resolve(schema: Obj) -> Obj:
    """``schema`` with a ``$ref`` to a definition followed (one level)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and _DEFS in ref:
        return definitions().get(ref.split(_DEFS, 1)[1], {})
    return schema


def merged(schema: Obj) -> Obj:
    """``schema`` resolved (:func:`resolve`), with an ``allOf`` part that is a ``$ref``
    merged in (the schema's own keys win), as the walks over objects read it."""
    schema = resolve(schema)
    for part in schema.get("allOf") or []:
        if isinstance(part, dict) and "$ref" in part:
            found = dict(resolve(part))
            found.update({k: v for k, v in schema.items() if k != "allOf"})
            schema = found
    return schema


def object_meta() -> Obj:
    return definitions()["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]


# -- OpenAPI rendering ----------------------------------------------------------------

def _convert(node: Any, target: str) -> Any:
    """JSON Schema as kubernetes-validate writes it -> OpenAPI: ``type: [t, "null"]``
    becomes ``type: t``, ``$ref`` points at ``target``, and a ``$ref`` with siblings is
    wrapped in ``allOf`` as kube-apiserver publishes it."""
    if isinstance(node, list):
        return [_convert(item, target) for item in node]
    if not isinstance(node, dict):
        return node
    out: Obj = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kinds = [v for v in value if v != "null"]
            if len(kinds) == 1:
                out[key] = kinds[0]
            continue
        if key == "$ref" and isinstance(value, str):
            continue
        if key == "oneOf" and all(isinstance(o, dict) and set(o) == {"type"} for o in value):
            continue  # IntOrString: carried by x-kubernetes-int-or-string / format
        out[key] = _convert(value, target)
    ref = node.get("$ref")
    if isinstance(ref, str) and _DEFS in ref:
        pointer = {"$ref": target + ref.split(_DEFS, 1)[1]}
        if out and target.startswith("#/components/"):
            out["allOf"] = [pointer]
        else:
            out.update(pointer)
    return out


def _references(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and _DEFS in ref:
            found.add(ref.split(_DEFS, 1)[1])
        for value in node.values():
            _references(value, found)
    elif isinstance(node, list):
        for value in node:
            _references(value, found)


@functools.lru_cache(maxsize=64)
def closure(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` and every definition they reference, transitively, sorted."""
    seen: set[str] = set()
    stack = list(names)
    defs = definitions()
    while stack:
        name = stack.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        found: set[str] = set()
        _references(defs[name], found)
        stack.extend(found - seen)
    return tuple(sorted(seen))


@functools.lru_cache(maxsize=4096)
def _converted(name: str, target: str) -> str:
    # cached as JSON text: every document that includes it decodes its own copy
    return json.dumps(_convert(definitions()[name], target))


def components(names: tuple[str, ...], target: str) -> Obj:
    """The definitions ``names`` need, converted for ``target``
    (``#/components/schemas/`` or ``#/definitions/``)."""
    return {name: json.loads(_converted(name, target)) for name in closure(names)}


def custom_schema(kind: Kind) -> Obj:
    """The OpenAPI schema of a custom kind: its CRD schema with the standard
    apiVersion, kind and metadata fields and its GVK."""
    schema: Obj = json.loads(json.dumps(kind.schema or {"type": "object"}))
    properties = schema.setdefault("properties", {})
    properties.setdefault("apiVersion", {"type": "string", "description": (
        "APIVersion defines the versioned schema of this representation of an object.")})
    properties.setdefault("kind", {"type": "string", "description": (
        "Kind is a string value representing the REST resource this object represents.")})
    properties["metadata"] = {"allOf": [{"$ref": "#/components/schemas/"
                                         "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],
                              "description": "Standard object's metadata."}
    schema.setdefault("type", "object")
    schema["x-kubernetes-group-version-kind"] = [kind.gvk()]
    return schema
