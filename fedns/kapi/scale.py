"""The ``scale`` subresource: an object seen as an ``autoscaling/v1 Scale`` and back.

Any kind with a :class:`fedns.kapi.registry.Scale` (Deployments, ReplicaSets,
StatefulSets once registered, and custom kinds whose CRD declares
``subresources.scale``) serves ``<plural>/scale``: GET answers a Scale, PUT and
PATCH change only the replica count at ``spec_replicas_path`` (``kubectl scale``
sends a merge patch ``{"spec":{"replicas":N}}``).  kubectl needs the Scale kind in
the answer, not the object.  Pure; the server does the reads and writes.
"""

from __future__ import annotations

import copy
from typing import Any

from fedns.kapi import patch, selectors, status, tables
from fedns.kapi.registry import Kind

Obj = dict[str, Any]

API_VERSION = "autoscaling/v1"
GVK = {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def _spec(kind: Kind) -> Any:
    if kind.scale is None:
        raise status.path_not_found()
    return kind.scale


def to_scale(kind: Kind, obj: Obj) -> Obj:
    """The Scale of ``obj``: its name, uid, resourceVersion, desired and current
    replicas and its pod selector as a string."""
    spec = _spec(kind)
    meta = obj.get("metadata") or {}
    scale_meta = {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion",
                                             "creationTimestamp") if key in meta}
    desired = tables.lookup(obj, spec.spec_replicas_path)
    current = tables.lookup(obj, spec.status_replicas_path)
    if spec.label_selector_path:
        selector = tables.lookup(obj, spec.label_selector_path)
        selector_text = selector if isinstance(selector, str) else ""
    else:
        selector_text = selectors.label_selector_to_string(
            (obj.get("spec") or {}).get("selector"))
    scale_status: Obj = {"replicas": current if isinstance(current, int) else 0}
    if selector_text:
        scale_status["selector"] = selector_text
    return {"kind": "Scale", "apiVersion": API_VERSION, "metadata": scale_meta,
            "spec": {"replicas": desired if isinstance(desired, int) else 0},
            "status": scale_status}


def patched(current: Obj, patch_type: str, body: Any) -> Obj:
    """``current`` (a Scale) with a JSON, merge or strategic merge patch applied (a
    Scale has no lists, so strategic merge is a merge)."""
    try:
        if patch_type == "application/json-patch+json":
            result = patch.json_patch(copy.deepcopy(current), body)
        else:
            result = patch.merge_patch(copy.deepcopy(current), body)
    except patch.BadPatch as err:
        raise status.ApiError(422, "Invalid", str(err)) from err
    if not isinstance(result, dict):
        raise status.bad_request("the patch did not produce a Scale")
    return result


def replicas_of(kind: Kind, name: str, scale: Obj) -> int:
    """The desired replicas a Scale body asks for, checked as kube-apiserver does."""
    spec = scale.get("spec") if isinstance(scale, dict) else None
    replicas = (spec or {}).get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise status.bad_request(f"Scale.spec.replicas must be an integer, not {replicas!r}")
    if replicas < 0:
        raise status.invalid("Scale", "autoscaling", name, [
            ("spec.replicas", (f"Invalid value: {replicas}: must be greater than or equal "
                              "to 0"))])
    return replicas


def object_patch(kind: Kind, replicas: int, resource_version: str = "") -> Obj:
    """The merge patch of the object that sets its desired replicas (and, when the
    Scale carried one, checks its resourceVersion)."""
    path = [part for part in _spec(kind).spec_replicas_path.strip(".").split(".") if part]
    body: Obj = {}
    node = body
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = replicas
    if resource_version:
        body.setdefault("metadata", {})["resourceVersion"] = resource_version
    return body
