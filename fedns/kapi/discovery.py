"""Discovery documents built from a Registry: /version, /api, /apis, per group-version
lists and aggregated discovery (apidiscovery.k8s.io v2), subresources included.
The OpenAPI documents are in :mod:`fedns.kapi.openapi`.  Pure.
"""

from __future__ import annotations

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
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3",
             "/readyz", "/version"]
    for group in registry.groups():
        if group:
            paths.append(f"/apis/{group}")
            paths += [f"/apis/{group}/{v}" for v in registry.versions(group)]
    return {"paths": sorted(paths)}
