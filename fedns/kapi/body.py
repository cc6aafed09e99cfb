"""Request bodies for kapi: media type, size, encoding and parse limits, off the event loop.

``await read(request)`` returns the decoded body of a create, update or patch, and
``await read_options(request)`` the DeleteOptions of a delete, or raise the
:class:`fedns.kapi.status.ApiError` kube-apiserver answers with:

- 415 ``UnsupportedMediaType`` for a media type the verb does not take (POST and PUT:
  JSON, YAML, Kubernetes protobuf; PATCH: the four patch types; no Content-Type on a
  POST or PUT is JSON, as in kube-apiserver);
- 413 ``RequestEntityTooLarge`` past 3 MiB (``limit is 3145728``), refused from the
  Content-Length before reading when the client sends one;
- 400 ``BadRequest`` for bytes that are not UTF-8, syntax errors, nesting deeper than
  100 levels, and YAML alias expansion past go-yaml's budget (:mod:`fedns.safeload`).

Bodies larger than a few KiB (YAML) or 64 KiB (JSON, protobuf) are parsed on a small
thread pool of their own, so a slow parse never holds up other requests.  Wrongly typed
fields of the object itself are :mod:`fedns.kapi.shapes`' business, checked by storage.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from aiohttp import web

from fedns import safeload
from fedns.kapi import protobuf, shapes, status

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

MAX_BYTES = safeload.MAX_BYTES  # kube-apiserver's MaxRequestBodyBytes
LIMITS = safeload.DEFAULT
# media type -> how the body is written
OBJECT_TYPES = {JSON: "json", YAML: "yaml", PROTOBUF: "protobuf"}
PATCH_TYPES = {JSON_PATCH: "json", MERGE_PATCH: "json", STRATEGIC_PATCH: "json",
               APPLY_PATCH: "yaml"}
# up to this many bytes a body is parsed in the request's own task (a thread costs more)
INLINE_BYTES = {"json": 64 * 1024, "protobuf": 64 * 1024, "yaml": 4 * 1024}
PARSE_THREADS = 2
MAX_PATCH_OPERATIONS = 10_000  # kube-apiserver's maxJSONPatchOperations

DELETE_OPTIONS = shapes.compile_shape({
    "apiVersion": shapes.STRING, "kind": shapes.STRING,
    "gracePeriodSeconds": shapes.INTEGER, "propagationPolicy": shapes.STRING,
    "orphanDependents": shapes.BOOLEAN, "dryRun": shapes.STRINGS,
    "preconditions": shapes.OBJECT, "preconditions.uid": shapes.STRING,
    "preconditions.resourceVersion": shapes.STRING})

_executor: concurrent.futures.ThreadPoolExecutor | None = None


def media_type(request: web.Request) -> str:
    """The request's Content-Type without parameters, lowercase ('' when absent)."""
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def too_large(limit: int = MAX_BYTES) -> status.ApiError:
    return status.ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {limit}")


async def raw_body(request: web.Request) -> bytes:
    """The body's bytes, or 413 past MAX_BYTES (the application's ``client_max_size``
    must be above MAX_BYTES: this is the limit that answers)."""
    length = request.content_length
    if length is not None and length > MAX_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_BYTES:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def read(request: web.Request, allow_list: bool = False) -> Any:
    """The body of a POST, PUT or PATCH: an object (a list too with ``allow_list``,
    for JSON patches)."""
    media = media_type(request)
    patching = request.method == "PATCH"
    table = PATCH_TYPES if patching else OBJECT_TYPES
    if not media and not patching:
        media = JSON
    form = table.get(media)
    if form is None:
        raise status.unsupported_media_type(media or "(none)", list(table))
    raw = await raw_body(request)
    value = await _parse(raw, form)
    if media == JSON_PATCH and isinstance(value, list) and len(value) > MAX_PATCH_OPERATIONS:
        raise status.ApiError(413, "RequestEntityTooLarge", (
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_PATCH_OPERATIONS}, got {len(value)}"))
    if value is None or not (isinstance(value, dict) or (allow_list and isinstance(value, list))):
        raise status.bad_request("the request body must be a JSON object")
    return value


async def read_options(request: web.Request) -> dict[str, Any]:
    """The DeleteOptions in a DELETE's body ({} without one)."""
    if not request.can_read_body:
        return {}
    media = media_type(request) or JSON
    form = OBJECT_TYPES.get(media, "json")  # kube-apiserver reads any other type as JSON
    raw = await raw_body(request)
    if not raw.strip():
        return {}
    try:
        value = await _parse(raw, form)
    except status.ApiError as err:
        if err.code != 400:
            raise
        raise status.bad_request(f"invalid DeleteOptions: {err.message}") from None
    if not isinstance(value, dict):
        raise status.bad_request("invalid DeleteOptions: the body must be a JSON object")
    problems: list[shapes.Problem] = []
    shapes.check_node(DELETE_OPTIONS, value, problems)
    if problems:
        raise status.bad_request("invalid DeleteOptions: "
                                 + "; ".join(p.message() for p in problems))
    return value


async def _parse(raw: bytes, form: str) -> Any:
    parse: Callable[[bytes], Any] = {"json": _json, "yaml": _yaml,
                                     "protobuf": _protobuf}[form]
    if len(raw) <= INLINE_BYTES[form]:
        return parse(raw)
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(
            PARSE_THREADS, thread_name_prefix="kapi-body")
    return await asyncio.get_running_loop().run_in_executor(_executor, parse, raw)


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return safeload.load_json(raw, LIMITS)
    except safeload.Refused as err:
        raise _refused(err, "JSON") from None


def _yaml(raw: bytes) -> Any:
    try:
        return safeload.load_yaml(raw, LIMITS)
    except safeload.Refused as err:
        raise _refused(err, "YAML") from None


def _protobuf(raw: bytes) -> Any:
    try:
        return protobuf.decode(raw)
    except protobuf.BadProtobuf as err:
        raise status.unsupported_media_type(PROTOBUF, [JSON, YAML], detail=str(err)) from err


def _refused(err: safeload.Refused, form: str) -> status.ApiError:
    if err.reason == "size":
        return too_large()
    return status.bad_request(f"the request body is not valid {form}: {err}")
