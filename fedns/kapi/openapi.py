"""The OpenAPI documents of a Registry: ``/openapi/v3`` (the root and one document per
group-version) and ``/openapi/v2`` (JSON), with the real Kubernetes schemas.

What clients look for:

- ``kubectl apply`` checks, in the v3 document of the object's group-version, for a
  PATCH operation carrying ``x-kubernetes-group-version-kind`` and a
  ``fieldValidation`` parameter; then it leaves validation to the server.
- ``kubectl explain`` finds the schema whose ``x-kubernetes-group-version-kind``
  lists the kind and walks its ``properties`` (``$ref`` and ``allOf`` resolved), so
  the component schemas are kube's own (:mod:`fedns.kapi.schemas`); custom kinds
  use their CRD schema.
- Strategic merge patch is not advertised: kubectl computes it from its compiled-in
  types, as it does against a cluster whose spec it does not use for patching.

:class:`Documents` renders each document once per registry generation (a CRD added
or removed starts a new one) and keeps the encoded bytes; registries of the same
kinds (the members of one ``fedns sim``) share them.  Pure.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from fedns.kapi import discovery, objects, schemas
from fedns.kapi.registry import Kind, Registry

Obj = dict[str, Any]

V3_REFS = "#/components/schemas/"
V2_REFS = "#/definitions/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/apply-patch+yaml")
FIELD_VALIDATION = ("fieldValidation instructs the server on how to handle objects in the "
                    "request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid "
                    "values are: Ignore, Warn (the default) and Strict.")


def path_of(group: str, version: str) -> str:
    """The document path below /openapi/v3: ``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _query(name: str, description: str = "", v2: bool = False) -> Obj:
    if v2:
        return {"name": name, "in": "query", "description": description, "type": "string",
                "uniqueItems": True}
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": "string", "uniqueItems": True}}


def _operation_id(verb: str, kind: Kind) -> str:
    group = (kind.group.split(".")[0] or "core").capitalize()
    scope = "Namespaced" if kind.namespaced else ""
    return f"{verb}{group}{kind.version.capitalize()}{scope}{kind.kind}"


def _stub(kind: Kind) -> Obj:
    """The schema of a kind that has neither kube's nor a CRD's: its top-level fields."""
    return {"type": "object",
            "description": kind.description or f"{kind.kind} ({kind.api_version}).",
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"type": "object"}, "spec": {"type": "object"},
                           "status": {"type": "object"}},
            "x-kubernetes-group-version-kind": [kind.gvk()]}


GVR = tuple[str, str, str]


def _gvr(kind: Kind) -> GVR:
    return (kind.group, kind.version, kind.plural)


def _schemas(kinds: list[Kind], refs: str) -> tuple[Obj, dict[GVR, str]]:
    """The component schemas of ``kinds`` and the component name of each kind (by
    group, version and plural: a Kind holding a schema is not hashable)."""
    names: dict[GVR, str] = {}
    upstream: list[str] = [PATCH]
    extra: Obj = {}
    for kind in kinds:
        name = schemas.component(kind)
        if name is not None:
            upstream.append(name)
        elif kind.schema is not None:
            name = kind.component
            text = objects.dumps(schemas.custom_schema(kind)).decode()
            extra[name] = json.loads(text.replace(V3_REFS, refs))
            upstream.append(OBJECT_META)
        else:
            name = kind.component
            extra[name] = _stub(kind)
        names[_gvr(kind)] = name
    found = schemas.components(tuple(sorted(set(upstream))), refs)
    found.setdefault(PATCH, {"type": "object", "description": "Patch is provided to give a "
                             "concrete name and type to the Kubernetes PATCH request body."})
    found.update(extra)
    return found, names


def _paths(kind: Kind, prefix: str, component: str, v2: bool) -> Obj:
    refs = V2_REFS if v2 else V3_REFS
    gvk = kind.gvk()
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    collection = f"{prefix}{scope}/{kind.plural}"
    if v2:
        ok = {"200": {"description": "OK", "schema": {"$ref": refs + component}}}
        body = {"name": "body", "in": "body", "required": True,
                "schema": {"$ref": refs + component}}
        patch_body = {"name": "body", "in": "body", "required": True,
                      "schema": {"$ref": refs + PATCH}}
    else:
        ok = {"200": {"description": "OK",
                      "content": {"application/json": {"schema": {"$ref": refs + component}}}}}
    common = {"x-kubernetes-group-version-kind": gvk}
    create: Obj = {"operationId": _operation_id("create", kind), "responses": ok,
                   "x-kubernetes-action": "post", **common}
    write_params = [_query("dryRun", v2=v2), _query("fieldManager", v2=v2),
                    _query("fieldValidation", FIELD_VALIDATION, v2=v2)]
    if v2:
        create["parameters"] = [body, *write_params]
    else:
        create["parameters"] = write_params
        create["requestBody"] = {"content": {"application/json": {
            "schema": {"$ref": refs + component}}}, "required": True}
    if kind.review is not None:
        return {collection: {"post": create}}
    path_params = [{"name": "name", "in": "path", "required": True,
                    "description": f"name of the {kind.kind}", "type": "string"}
                   if v2 else
                   {"name": "name", "in": "path", "required": True,
                    "description": f"name of the {kind.kind}", "schema": {"type": "string"}}]
    if kind.namespaced:
        path_params.append({**path_params[0], "name": "namespace",
                            "description": "object name and auth scope"})
    patch: Obj = {"operationId": _operation_id("patch", kind), "responses": ok,
                  "x-kubernetes-action": "patch", **common}
    patch_params = [*write_params, _query("force", v2=v2)]
    replace: Obj = {"operationId": _operation_id("replace", kind), "responses": ok,
                    "x-kubernetes-action": "put", **common}
    if v2:
        patch["parameters"] = [patch_body, *patch_params]
        patch["consumes"] = list(PATCH_TYPES)
        replace["parameters"] = [body, *write_params]
    else:
        patch["parameters"] = patch_params
        patch["requestBody"] = {"content": {t: {"schema": {"$ref": refs + PATCH}}
                                            for t in PATCH_TYPES}, "required": True}
        replace["parameters"] = write_params
        replace["requestBody"] = create["requestBody"]
    return {
        collection: {"get": {"operationId": _operation_id("list", kind), "responses": ok,
                             "x-kubernetes-action": "list", **common},
                     "post": create, "parameters": path_params[1:]},
        f"{collection}/{{name}}": {
            "get": {"operationId": _operation_id("read", kind), "responses": ok,
                    "x-kubernetes-action": "get", **common},
            "put": replace, "patch": patch,
            "delete": {"operationId": _operation_id("delete", kind), "responses": ok,
                       "x-kubernetes-action": "delete", **common},
            "parameters": path_params},
    }


def document(registry: Registry, group: str, version: str) -> Obj:
    """The OpenAPI v3 document of one group-version."""
    kinds = registry.kinds(group, version)
    components, names = _schemas(kinds, V3_REFS)
    paths: Obj = {}
    for kind in kinds:
        paths.update(_paths(kind, "/" + path_of(group, version), names[_gvr(kind)], v2=False))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": discovery.GIT_VERSION},
            "paths": paths, "components": {"schemas": components}}


def swagger(registry: Registry) -> Obj:
    """The OpenAPI v2 document of every kind."""
    kinds = registry.kinds()
    definitions, names = _schemas(kinds, V2_REFS)
    paths: Obj = {}
    for kind in kinds:
        prefix = "/" + path_of(kind.group, kind.version)
        paths.update(_paths(kind, prefix, names[_gvr(kind)], v2=True))
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": discovery.GIT_VERSION},
            "paths": paths, "definitions": definitions}


def digest(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()[:64].upper()


def signature(kinds: list[Kind]) -> str:
    """What the documents of ``kinds`` depend on, as a digest: servers whose registries
    hold the same kinds (the members of one ``fedns sim``) share their documents."""
    parts = [[k.group, k.version, k.plural, k.kind, k.namespaced, k.review is None,
              k.description, k.component, k.schema] for k in kinds]
    return hashlib.sha256(objects.dumps(parts)).hexdigest()


_SHARED: collections.OrderedDict[tuple[str, str], bytes] = collections.OrderedDict()
_SHARED_SIZE = 64  # documents kept for the whole process, least recently used dropped


def _shared(key: tuple[str, str], render: Callable[[], Obj]) -> bytes:
    data = _SHARED.get(key)
    if data is None:
        data = _SHARED[key] = objects.dumps(render())
        while len(_SHARED) > _SHARED_SIZE:
            _SHARED.popitem(last=False)
    else:
        _SHARED.move_to_end(key)
    return data


class Documents:
    """Encoded OpenAPI documents of ``registry``, rendered once per generation of the
    registry and shared, through a small process-wide cache, with every registry of
    the same kinds."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._generation = -1
        self._v3: dict[str, tuple[bytes, str]] = {}
        self._v2: bytes | None = None

    def _fresh(self) -> None:
        if self._generation != self.registry.generation:
            self._generation = self.registry.generation
            self._v3.clear()
            self._v2 = None

    def v3(self, path: str) -> tuple[bytes, str] | None:
        """The document at ``path`` (``apis/apps/v1``) and its hash; None if no such
        group-version."""
        self._fresh()
        if path not in self._v3:
            for group, version in self.registry.group_versions():
                if path_of(group, version) == path:
                    key = (path, signature(self.registry.kinds(group, version)))
                    data = _shared(key, functools.partial(document, self.registry, group,
                                                          version))
                    self._v3[path] = (data, digest(data))
                    break
            else:
                return None
        return self._v3[path]

    def root(self) -> Obj:
        paths = {}
        for group, version in self.registry.group_versions():
            path = path_of(group, version)
            found = self.v3(path)
            assert found is not None
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={found[1]}"}
        return {"paths": paths}

    def v2(self) -> bytes:
        self._fresh()
        if self._v2 is None:
            key = ("v2", signature(self.registry.kinds()))
            self._v2 = _shared(key, lambda: swagger(self.registry))
        return self._v2
