"""Requests the server answers without storing the object they name: the ``scale``
subresource, the create-only review kinds and the Pod subresources a simulated
member cannot serve (``log``, ``exec``, ``attach``, ``portforward``).

:func:`handle` takes the parsed request (kind, namespace, name, subresource), a
coroutine that reads the body, and the :class:`fedns.kapi.storage.Storage`; it
returns the status code and the JSON answer.  The HTTP layer stays in
:mod:`fedns.kapi.server`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fedns.kapi import objects, scale, status
from fedns.kapi.registry import Kind

if TYPE_CHECKING:  # the discovery half of this module stays pure
    from fedns.kapi import storage

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

Obj = dict[str, Any]

POD_STREAMS = ("log", "exec", "attach", "portforward")
STATUS_VERBS = ["get", "patch", "update"]
STREAM_KINDS = {"log": "Pod", "exec": "PodExecOptions", "attach": "PodAttachOptions",
                "portforward": "PodPortForwardOptions"}
STREAM_VERBS = {"log": ["get"], "exec": ["create", "get"], "attach": ["create", "get"],
                "portforward": ["create", "get"]}


def serves(kind: Kind, subresource: str) -> bool:
    """Whether ``kind`` has ``subresource`` (status is the storage's own)."""
    if subresource == "status":
        return kind.status
    if subresource == "scale":
        return kind.scale is not None
    return kind.group == "" and kind.plural == "pods" and subresource in POD_STREAMS


def handled_here(kind: Kind, subresource: str) -> bool:
    return kind.review is not None or subresource == "scale" or subresource in POD_STREAMS


def discovery(kind: Kind) -> list[tuple[str, dict[str, str], list[str]]]:
    """(subresource, responseKind, verbs) of every subresource of ``kind``."""
    found = []
    if kind.status:
        found.append(("status", kind.gvk(), STATUS_VERBS))
    if kind.scale is not None:
        found.append(("scale", scale.GVK, STATUS_VERBS))
    if kind.group == "" and kind.plural == "pods":
        for name in POD_STREAMS:
            found.append((name, {"group": "", "version": "v1", "kind": STREAM_KINDS[name]},
                          STREAM_VERBS[name]))
    return found


async def handle(store: storage.Storage, method: str, kind: Kind, namespace: str, name: str,
                 subresource: str, body: Callable[[], Awaitable[Any]],
                 content_type: str = "", dry_run: bool = False) -> tuple[int, Obj]:
    if kind.review is not None:
        if method != "POST" or name:
            raise status.method_not_allowed(method.lower())
        request = await body()
        if not isinstance(request, dict):
            raise status.bad_request("the request body must be a JSON object")
        request.setdefault("apiVersion", kind.api_version)
        request.setdefault("kind", kind.kind)
        return 201, kind.review(request)
    if subresource in POD_STREAMS:
        await store.get(kind, namespace, name)  # a missing pod is still a 404
        raise status.bad_request(
            f'pod "{name}" runs no containers: a fedns simulated member does not run '
            f"workloads, so it has no {'logs' if subresource == 'log' else subresource}")
    return await _scale(store, method, kind, namespace, name, body, content_type, dry_run)


async def _scale(store: storage.Storage, method: str, kind: Kind, namespace: str, name: str,
                 body: Callable[[], Awaitable[Any]], content_type: str,
                 dry_run: bool) -> tuple[int, Obj]:
    current = await store.get(kind, namespace, name)
    if method in ("GET", "HEAD"):
        return 200, scale.to_scale(kind, current)
    if method not in ("PUT", "PATCH"):
        raise status.method_not_allowed(method.lower())
    request = await body()
    if method == "PATCH":
        if content_type == APPLY_PATCH:
            raise status.method_not_allowed("apply to the scale subresource")
        request = scale.patched(scale.to_scale(kind, current), content_type, request)
    if not isinstance(request, dict):
        raise status.bad_request("the request body must be a Scale object")
    replicas = scale.replicas_of(kind, name, request)
    wanted = str((request.get("metadata") or {}).get("resourceVersion") or "")
    if method == "PATCH" and wanted == objects.meta(current).get("resourceVersion"):
        wanted = ""  # a patch keeps the version it read unless it names one itself
    updated = await store.patch(kind, namespace, name, MERGE_PATCH,
                                scale.object_patch(kind, replicas, wanted), dry_run=dry_run)
    return 200, scale.to_scale(kind, updated)
