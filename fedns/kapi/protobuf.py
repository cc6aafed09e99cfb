"""Decode the protobuf request bodies that typed clients send, for every built-in kind.

client-go's typed clients send ``application/vnd.kubernetes.protobuf`` by default
(``kubectl create deployment|job|secret|role|...``, ``kubectl autoscale``, ``kubectl
auth can-i``, Helm's release Secrets).  The body is ``k8s\\0`` followed by a
``runtime.Unknown`` (typeMeta=1, raw=2) whose raw bytes are the object.  This is a
generic protobuf wire decoder driven by the field tables of
:mod:`fedns.kapi.protofields` (generated from the upstream ``generated.proto``
files), giving the same JSON kube-apiserver accepts.  Kinds without a table (custom
kinds, which clients send as JSON anyway) raise :class:`UnsupportedKind`.  Responses
are always JSON.  Pure.
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import struct
from typing import Any

from fedns import errors

MAGIC = b"k8s\x00"

# Group of an apiVersion -> the package prefix of its messages in protofields.
GROUP_PACKAGES = {
    "": "core", "apps": "apps", "batch": "batch", "autoscaling": "autoscaling",
    "policy": "policy", "rbac.authorization.k8s.io": "rbac",
    "networking.k8s.io": "networking", "discovery.k8s.io": "discovery",
    "storage.k8s.io": "storage", "authorization.k8s.io": "authorization",
    "authentication.k8s.io": "authentication", "scheduling.k8s.io": "scheduling",
    "coordination.k8s.io": "coordination", "events.k8s.io": "events",
}

# Go pointer fields whose zero value means something (``replicas: 0``).  Protobuf
# writes non-pointer scalars even when zero, and JSON leaves those out (omitempty),
# so every other zero scalar reads as unset.
ZERO_MEANINGFUL = frozenset({
    "replicas", "parallelism", "completions", "backoffLimit", "backoffLimitPerIndex",
    "maxFailedIndexes", "activeDeadlineSeconds", "ttlSecondsAfterFinished",
    "terminationGracePeriodSeconds", "gracePeriodSeconds", "revisionHistoryLimit",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds",
    "minReplicas", "automountServiceAccountToken", "immutable", "suspend", "readOnly",
    "allowPrivilegeEscalation", "privileged", "runAsNonRoot", "readOnlyRootFilesystem",
    "runAsUser", "runAsGroup", "fsGroup", "optional", "defaultMode", "allowed",
    "partition", "stabilizationWindowSeconds",
})

_SPECIAL = {"meta.v1.Time", "meta.v1.MicroTime", "meta.v1.Duration", "intstr.IntOrString",
            "resource.Quantity", "runtime.RawExtension", "meta.v1.FieldsV1"}


class BadProtobuf(errors.UsageError):
    """The protobuf body cannot be decoded."""


class UnsupportedKind(BadProtobuf):
    """The kind is not one kapi decodes from protobuf."""


Field = tuple[str, str, str]  # json name, form ("", "*" repeated, "{" map, "^" inline), type


@functools.cache
def _tables() -> tuple[dict[str, str], frozenset[str]]:
    # imported on first use: 60 kB of tables that most servers never need
    from fedns.kapi import protofields

    return protofields.MESSAGES, protofields.SLICES


@functools.cache
def message(name: str) -> dict[int, Field] | None:
    """The field table of message ``name`` (``apps.v1.Deployment``), None if unknown."""
    spec = _tables()[0].get(name)
    if spec is None:
        return None
    table: dict[int, Field] = {}
    for entry in spec.split():
        number, json_name, kind = entry.split(":", 2)
        form = kind[0] if kind[0] in "*{^" else ""
        table[int(number)] = (json_name, form, kind.lstrip("*^").strip("{}"))
    return table


def message_name(api_version: str, kind: str) -> str | None:
    """The message of an object kind, e.g. ``("apps/v1", "Deployment")`` ->
    ``apps.v1.Deployment``; DeleteOptions in any group is ``meta.v1.DeleteOptions``."""
    if kind == "DeleteOptions":
        return "meta.v1.DeleteOptions"
    group, _, version = api_version.rpartition("/")
    package = GROUP_PACKAGES.get(group)
    if package is None or not version:
        return None
    name = f"{package}.{version}.{kind}"
    return name if name in _tables()[0] else None


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
    """The (field number, value) pairs of a message: ints for varints and fixed-width
    fields, bytes for length-delimited ones."""
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
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise BadProtobuf("truncated fixed-width field")
            found.append((number, int.from_bytes(data[pos:pos + width], "little")))
            pos += width
        else:
            raise BadProtobuf(f"unsupported wire type {wire}")
    return found


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes, micro: bool) -> str | None:
    parts = dict(fields(data))
    seconds, nanos = _signed(int(parts.get(1, 0))), int(parts.get(2, 0))
    if not seconds and not nanos:
        return None  # Go's zero time: unset
    when = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    if micro:
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String`` for whole seconds and above: ``1h2m3s``, ``0s``."""
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    fraction = f".{rest:09d}".rstrip("0") if rest else ""
    if hours:
        return f"{hours}h{minutes}m{seconds}{fraction}s"
    if minutes:
        return f"{minutes}m{seconds}{fraction}s"
    return f"{seconds}{fraction}s"


def _special(kind: str, data: bytes) -> Any:
    if kind in ("meta.v1.Time", "meta.v1.MicroTime"):
        return _time(data, kind == "meta.v1.MicroTime")
    parts = dict(fields(data))
    if kind == "meta.v1.Duration":
        return _duration(_signed(int(parts.get(1, 0))))
    if kind == "intstr.IntOrString":
        if parts.get(1, 0):
            raw = parts.get(3, b"")
            return raw.decode() if isinstance(raw, bytes) else ""
        return _signed(int(parts.get(2, 0)))
    if kind == "resource.Quantity":
        raw = parts.get(1, b"")
        return raw.decode() if isinstance(raw, bytes) else ""
    raw = parts.get(1, b"")  # RawExtension.raw, FieldsV1.Raw: embedded JSON
    if not raw or not isinstance(raw, bytes):
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise BadProtobuf(f"embedded JSON of {kind}: {err}") from err


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        return value.decode() if isinstance(value, bytes) else str(value)
    if kind == "bytes":
        return base64.b64encode(value if isinstance(value, bytes) else b"").decode()
    if isinstance(value, bytes):
        raise BadProtobuf(f"a {kind} field carries bytes")
    if kind == "bool":
        return bool(value)
    if kind == "double":
        return struct.unpack("<d", value.to_bytes(8, "little"))[0]
    if kind == "float":
        return struct.unpack("<f", value.to_bytes(4, "little"))[0]
    if kind in ("int32", "int64", "sint32", "sint64"):
        if kind.startswith("sint"):
            return (value >> 1) ^ -(value & 1)
        return _signed(value)
    return value  # uint32, uint64, fixed32, fixed64


def _value(kind: str, value: int | bytes) -> Any:
    if kind in _SPECIAL:
        return _special(kind, value if isinstance(value, bytes) else b"")
    if message(kind) is not None:
        return decode_message(value if isinstance(value, bytes) else b"", kind)
    return _scalar(kind, value)


def _packed(kind: str, data: bytes) -> list[Any]:
    values: list[Any] = []
    pos = 0
    while pos < len(data):
        number, pos = _varint(data, pos)
        values.append(_scalar(kind, number))
    return values


def decode_message(data: bytes, name: str) -> Any:
    """The JSON form of message ``name`` encoded in ``data``."""
    table = message(name)
    if table is None:
        raise BadProtobuf(f"no field table for {name}")
    result: dict[str, Any] = {}
    for number, value in fields(data):
        field = table.get(number)
        if field is None:
            continue  # a field newer than our tables: ignore, as proto2 does
        json_name, form, kind = field
        if form == "^":  # a Go struct JSON inlines: its fields are the parent's
            inner = decode_message(value if isinstance(value, bytes) else b"", kind)
            result.update(inner)
        elif form == "{":
            entry = dict(fields(value if isinstance(value, bytes) else b""))
            key = _scalar("string", entry.get(1, b""))
            result.setdefault(json_name, {})[key] = _value(kind, entry.get(2, b""))
        elif form == "*":
            items = result.setdefault(json_name, [])
            if isinstance(value, bytes) and kind not in ("string", "bytes") and \
                    kind not in _SPECIAL and message(kind) is None:
                items.extend(_packed(kind, value))
            else:
                items.append(_value(kind, value))
        else:
            decoded = _value(kind, value)
            # empty strings, zero numbers and zero times mean unset, as in Go's JSON
            if decoded is None or decoded == "" or (
                    decoded in (0, False) and not isinstance(decoded, dict)
                    and json_name not in ZERO_MEANINGFUL and kind not in _SPECIAL):
                continue
            result[json_name] = decoded
    if name in _tables()[1]:
        return next(iter(result.values()), [])  # a Go slice type: JSON is the list
    return result


def decode(body: bytes) -> dict[str, Any]:
    """A ``k8s\\0`` protobuf body as the JSON object it stands for."""
    if not body.startswith(MAGIC):
        raise BadProtobuf("the body does not start with the k8s protobuf magic number")
    envelope = dict(fields(body[len(MAGIC):]))
    type_meta = envelope.get(1, b"")
    raw = envelope.get(2, b"")
    if not isinstance(type_meta, bytes) or not isinstance(raw, bytes):
        raise BadProtobuf("the protobuf envelope is malformed")
    meta = {number: value for number, value in fields(type_meta)}
    api_version = _scalar("string", meta.get(1, b""))
    kind = _scalar("string", meta.get(2, b""))
    name = message_name(api_version, kind)
    if name is None:
        raise UnsupportedKind(f"protobuf bodies of {kind or 'unknown kind'} ({api_version}) are "
                              "not supported: send JSON")
    obj = decode_message(raw, name)
    if kind != "DeleteOptions":
        obj = {"apiVersion": api_version, "kind": kind, **obj}
    return dict(obj)
