"""Discovery documents built from a Registry: /version, /api, /apis, per group-version
lists, aggregated discovery (apidiscovery.k8s.io v2), and the OpenAPI v3 documents
kubectl needs for ``apply``.

The OpenAPI v3 documents are stubs with exactly what kubectl 1.37 looks for: per
resource a PATCH operation carrying ``x-kubernetes-group-version-kind`` and a
``fieldValidation`` parameter (so kubectl leaves validation to the server instead of
downloading the protobuf v2 spec), and per kind a schema listing its GVK (for
``explain``).  Strategic merge patch is deliberately not advertised: kubectl then
computes it from its compiled-in types rather than from these stub schemas.  Pure.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from typing import Any

from fedns.kapi import subresources
from fedns.kapi.registry import Kind, Registry

Obj = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

KUBE_MAJOR, KUBE_MINOR = "1", "37"
# build metadata (+fedns), never a pre-release suffix: Helm's kubeVersion checks reject those
GIT_VERSION = f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+fedns"

STATUS_VERBS = ["get", "patch", "update"]


def version() -> Obj:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "major": KUBE_MAJOR, "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR, "emulationMinor": KUBE_MINOR,
        "minCompatibilityMajor": KUBE_MAJOR, "minCompatibilityMinor": str(int(KUBE_MINOR) - 1),
        "gitVersion": GIT_VERSION, "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "", "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython", "platform": f"{sys.platform}/{arch}",
    }


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


# -- legacy discovery ------------------------------------------------------------

def api_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(registry: Registry, group: str) -> Obj:
    versions = [{"groupVersion": _group_version(group, v), "version": v}
                for v in registry.versions(group)]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def api_group_list(registry: Registry) -> Obj:
    groups = [api_group(registry, g) for g in registry.groups() if g]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(registry: Registry, group: str, version: str) -> Obj:
    resources = []
    for kind in registry.kinds(group, version):
        entry: Obj = {"name": kind.plural, "singularName": kind.singular_name,
                      "namespaced": kind.namespaced, "kind": kind.kind, "verbs": list(kind.verbs)}
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        resources.append(entry)
        for name, response, verbs in subresources.discovery(kind):
            sub: Obj = {"name": f"{kind.plural}/{name}", "singularName": "",
                        "namespaced": kind.namespaced, "kind": response["kind"],
                        "verbs": verbs}
            if response["group"] != kind.group:
                sub["group"], sub["version"] = response["group"], response["version"]
            resources.append(sub)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": _group_version(group, version), "resources": resources}


# -- aggregated discovery --------------------------------------------------------

def _aggregated_resource(kind: Kind) -> Obj:
    entry: Obj = {"resource": kind.plural, "responseKind": kind.gvk(),
                  "scope": "Namespaced" if kind.namespaced else "Cluster",
                  "singularResource": kind.singular_name, "verbs": list(kind.verbs)}
    if kind.short_names:
        entry["shortNames"] = list(kind.short_names)
    if kind.categories:
        entry["categories"] = list(kind.categories)
    found = subresources.discovery(kind)
    if found:
        entry["subresources"] = [{"subresource": name, "responseKind": response,
                                  "verbs": verbs} for name, response, verbs in found]
    return entry


def aggregated(registry: Registry, core: bool, api_version: str = "v2") -> Obj:
    """The APIGroupDiscoveryList for ``/api`` (core) or ``/apis`` (every other group)."""
    items = []
    for group in registry.groups():
        if (group == "") != core:
            continue
        versions = [{"version": v, "freshness": "Current",
                     "resources": [_aggregated_resource(k) for k in registry.kinds(group, v)]}
                    for v in registry.versions(group)]
        items.append({"metadata": {"name": group}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{api_version}", "metadata": {}, "items": items}


def root_paths(registry: Registry) -> Obj:
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz",
             "/version"]
    for group in registry.groups():
        if group:
            paths.append(f"/apis/{group}")
            paths += [f"/apis/{group}/{v}" for v in registry.versions(group)]
    return {"paths": sorted(paths)}


# -- OpenAPI v3 ------------------------------------------------------------------

def openapi_path(group: str, version: str) -> str:
    """The document path below /openapi/v3: ``api/v1`` or ``apis/<group>/<version>``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _query(name: str, description: str = "") -> Obj:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": "string", "uniqueItems": True}}


def _operation_id(verb: str, kind: Kind) -> str:
    group = "".join(part.capitalize() for part in (kind.group.split(".")[0] or "core",))
    scope = "Namespaced" if kind.namespaced else ""
    return f"{verb}{group}{kind.version.capitalize()}{scope}{kind.kind}"


def _ref(kind: Kind) -> Obj:
    return {"$ref": f"#/components/schemas/{kind.component}"}


def openapi_document(registry: Registry, group: str, version: str) -> Obj:
    prefix = "/" + openapi_path(group, version)
    paths: Obj = {}
    schemas: Obj = {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": {
            "type": "object",
            "description": "Patch is provided to give a concrete name and type to the "
                           "Kubernetes PATCH request body."},
    }
    for kind in registry.kinds(group, version):
        scope = "/namespaces/{namespace}" if kind.namespaced else ""
        item_path = f"{prefix}{scope}/{kind.plural}/{{name}}"
        gvk = kind.gvk()
        ok = {"200": {"description": "OK",
                      "content": {"application/json": {"schema": _ref(kind)}}}}
        path_params = [{"name": "name", "in": "path", "required": True,
                        "description": f"name of the {kind.kind}",
                        "schema": {"type": "string", "uniqueItems": True}}]
        if kind.namespaced:
            path_params.append({"name": "namespace", "in": "path", "required": True,
                                "description": "object name and auth scope",
                                "schema": {"type": "string", "uniqueItems": True}})
        patch_body = {"schema": {"$ref": "#/components/schemas/"
                                         "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
        paths[item_path] = {
            "get": {"operationId": _operation_id("read", kind), "responses": ok,
                    "x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk},
            "put": {"operationId": _operation_id("replace", kind),
                    "parameters": [_query("dryRun"), _query("fieldManager"),
                                   _query("fieldValidation")],
                    "requestBody": {"content": {"application/json": {"schema": _ref(kind)}},
                                    "required": True},
                    "responses": ok, "x-kubernetes-action": "put",
                    "x-kubernetes-group-version-kind": gvk},
            "patch": {"operationId": _operation_id("patch", kind),
                      "parameters": [_query("dryRun"), _query("fieldManager"),
                                     _query("fieldValidation",
                                            "fieldValidation instructs the server on how to "
                                            "handle objects in the request containing "
                                            "unknown or duplicate fields."),
                                     _query("force")],
                      "requestBody": {"content": {"application/json-patch+json": patch_body,
                                                  "application/merge-patch+json": patch_body,
                                                  "application/apply-patch+yaml": patch_body},
                                      "required": True},
                      "responses": ok, "x-kubernetes-action": "patch",
                      "x-kubernetes-group-version-kind": gvk},
            "delete": {"operationId": _operation_id("delete", kind), "responses": ok,
                       "x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk},
            "parameters": path_params,
        }
        schemas[kind.component] = {
            "type": "object",
            "description": kind.description or f"{kind.kind} ({kind.api_version}).",
            "properties": {
                "apiVersion": {"type": "string", "description": "APIVersion defines the "
                               "versioned schema of this representation of an object."},
                "kind": {"type": "string", "description": "Kind is a string value "
                         "representing the REST resource this object represents."},
                "metadata": {"type": "object", "description": "Standard object's metadata."},
                "spec": {"type": "object", "description": f"Spec of the {kind.kind}."},
                "status": {"type": "object", "description": f"Status of the {kind.kind}."},
            },
            "x-kubernetes-group-version-kind": [gvk],
        }
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths, "components": {"schemas": schemas}}


def document_hash(document: Obj) -> str:
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(encoded).hexdigest()[:64].upper()


def openapi_root(registry: Registry) -> Obj:
    paths = {}
    for group, version in registry.group_versions():
        path = openapi_path(group, version)
        digest = document_hash(openapi_document(registry, group, version))
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
