"""Protobuf request bodies: the envelope and the kinds typed clients send."""

from __future__ import annotations

import pytest

from fedns.kapi import protobuf


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def msg(*fields: tuple[int, int | bytes | str]) -> bytes:
    """Encode (number, value) pairs: ints as varints, str/bytes length-delimited."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, int):
            out += _varint(number << 3) + _varint(value)
        else:
            data = value.encode() if isinstance(value, str) else value
            out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return protobuf.MAGIC + msg((1, msg((1, api_version), (2, kind))), (2, raw))


def entry(key: str, value: str | bytes) -> bytes:
    return msg((1, key), (2, value))


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param(envelope("v1", "Namespace", msg((1, msg((1, "foo"), (8, b""))))),
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}},
                 id="namespace-zero-time-unset"),
    pytest.param(envelope("v1", "Secret", msg(
        (1, msg((1, "s1"), (3, "default"), (11, entry("owner", "helm")),
                (11, entry("name", "rel")))),
        (2, entry("pw", b"hunter2")), (3, "helm.sh/release.v1"))),
                 {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "s1", "namespace": "default",
                               "labels": {"owner": "helm", "name": "rel"}},
                  "data": {"pw": "aHVudGVyMg=="}, "type": "helm.sh/release.v1"},
                 id="secret-bytes-base64-labels"),
    pytest.param(envelope("v1", "ConfigMap", msg((1, msg((1, "c"), (14, "a/b"), (14, "c/d"))),
                                                (2, entry("k", "v")), (4, 1))),
                 {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "c", "finalizers": ["a/b", "c/d"]},
                  "data": {"k": "v"}, "immutable": True}, id="configmap"),
    pytest.param(envelope("meta.k8s.io/v1", "DeleteOptions",
                          msg((1, 0), (2, msg((1, "uid-1"))), (4, "Background"))),
                 {"gracePeriodSeconds": 0, "preconditions": {"uid": "uid-1"},
                  "propagationPolicy": "Background"}, id="delete-options"),
])
def test_decode(body, expected):
    assert protobuf.decode(body) == expected


@pytest.mark.parametrize(("body", "error"), [
    pytest.param(b"{}", protobuf.BadProtobuf, id="no-magic"),
    pytest.param(envelope("apps/v1", "Deployment", b""), protobuf.UnsupportedKind,
                 id="unsupported-kind"),
    pytest.param(protobuf.MAGIC + b"\x0a\x05ab", protobuf.BadProtobuf, id="truncated"),
])
def test_decode_refuses(body, error):
    with pytest.raises(error):
        protobuf.decode(body)
