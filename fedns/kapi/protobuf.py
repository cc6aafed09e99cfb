"""Decode the protobuf request bodies that typed clients send, for a few kinds.

client-go's typed clients send ``application/vnd.kubernetes.protobuf`` by default
(``kubectl create namespace|configmap|secret``, Helm's release Secrets).  The body
is ``k8s\\0`` followed by a ``runtime.Unknown`` (typeMeta=1, raw=2) whose raw bytes
are the object.  This decodes that envelope and, from hand-written field tables,
Namespace, ConfigMap, Secret and DeleteOptions into the same JSON kube-apiserver
accepts.  Other kinds get 415 from the server.  Responses are always JSON.  Pure.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from fedns import errors

MAGIC = b"k8s\x00"


class BadProtobuf(errors.UsageError):
    """The protobuf body cannot be decoded."""


class UnsupportedKind(BadProtobuf):
    """The kind is not one kapi decodes from protobuf."""


# A field is (json name, type); a type is "string", "bytes", "int", "bool", a nested
# schema dict, ("map", value type), ("list", item type) or "time".
Schema = dict[int, tuple[str, Any]]

TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}
UNKNOWN: Schema = {1: ("typeMeta", TYPE_META), 2: ("raw", "raw"),
                   3: ("contentEncoding", "string"), 4: ("contentType", "string")}
OWNER_REFERENCE: Schema = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                           5: ("apiVersion", "string"), 6: ("controller", "bool"),
                           7: ("blockOwnerDeletion", "bool")}
OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
    8: ("creationTimestamp", "time"), 11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("list", OWNER_REFERENCE)),
    14: ("finalizers", ("list", "string")),
}
KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: ("metadata", OBJECT_META),
                          2: ("spec", {1: ("finalizers", ("list", "string"))}),
                          3: ("status", {1: ("phase", "string")})},
    ("v1", "ConfigMap"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "string")),
                          3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    ("v1", "Secret"): {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")),
                       3: ("type", "string"), 4: ("stringData", ("map", "string")),
                       5: ("immutable", "bool")},
    ("v1", "DeleteOptions"): {1: ("gracePeriodSeconds", "int"),
                              2: ("preconditions", {1: ("uid", "string"),
                                                    2: ("resourceVersion", "string")}),
                              3: ("orphanDependents", "bool"),
                              4: ("propagationPolicy", "string"),
                              5: ("dryRun", ("list", "string"))},
}
KINDS[("meta.k8s.io/v1", "DeleteOptions")] = KINDS[("v1", "DeleteOptions")]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BadProtobuf("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise BadProtobuf("varint too long")


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a message: ints for varints, bytes for
    length-delimited fields; fixed-width fields are skipped."""
    found: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            found.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise BadProtobuf("truncated field")
            found.append((number, data[pos:pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise BadProtobuf(f"unsupported wire type {wire}")
    return found


def _scalar(kind: Any, value: int | bytes) -> Any:
    if kind == "string":
        return value.decode() if isinstance(value, bytes) else str(value)
    if kind == "bytes":
        return base64.b64encode(value if isinstance(value, bytes) else b"").decode()
    if kind == "raw":
        return value
    if kind == "int":
        number = int(value) if isinstance(value, int) else 0
        return number - (1 << 64) if number >= 1 << 63 else number
    if kind == "bool":
        return bool(value)
    if kind == "time":
        seconds = dict(fields(value)).get(1, 0) if isinstance(value, bytes) else 0
        if not seconds:
            return None
        return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    if isinstance(kind, dict):
        return decode_message(value if isinstance(value, bytes) else b"", kind)
    raise BadProtobuf(f"unknown field type {kind!r}")


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, value in fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = dict(fields(value if isinstance(value, bytes) else b""))
            key = _scalar("string", entry.get(1, b""))
            result.setdefault(name, {})[key] = _scalar(kind[1], entry.get(2, b""))
        elif isinstance(kind, tuple) and kind[0] == "list":
            result.setdefault(name, []).append(_scalar(kind[1], value))
        else:
            decoded = _scalar(kind, value)
            # empty strings and zero times mean unset, as in Go
            if decoded is not None and decoded != "":
                result[name] = decoded
    return result


def decode(body: bytes) -> dict[str, Any]:
    """A ``k8s\\0`` protobuf body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise BadProtobuf("the body does not start with the k8s protobuf magic number")
    envelope = decode_message(body[len(MAGIC):], UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise UnsupportedKind(f"protobuf bodies of {kind or 'unknown kind'} ({api_version}) are "
                              "not supported: send JSON")
    obj = decode_message(envelope.get("raw", b""), schema)
    if kind != "DeleteOptions":
        obj = {"apiVersion": api_version, "kind": kind, **obj}
    return obj
