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
    pytest.param(envelope("apps/v1", "Deployment", msg(
        (1, msg((1, "web"), (8, b""), (11, entry("app", "web")))),
        (2, msg((1, 0), (2, msg((1, entry("app", "web")))),
                (3, msg((1, msg((11, entry("app", "web")))),
                        (2, msg((2, msg((1, "nginx"), (2, "nginx:1.27"),
                                        (6, msg((3, 80), (4, "TCP"))),
                                        (8, msg()))))))),
                (4, b""), (5, 0))))),
                 {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "labels": {"app": "web"}},
                  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{
                                            "name": "nginx", "image": "nginx:1.27",
                                            "ports": [{"containerPort": 80,
                                                       "protocol": "TCP"}],
                                            "resources": {}}]}},
                           "strategy": {}}},
                 id="deployment-pointer-zero-kept-plain-zero-dropped"),
    pytest.param(envelope("policy/v1", "PodDisruptionBudget", msg(
        (1, msg((1, "pdb"))), (2, msg((1, msg((1, 1), (3, "50%"))),
                                     (3, msg((1, 0), (2, 2))))))),
                 {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": {"name": "pdb"},
                  "spec": {"minAvailable": "50%", "maxUnavailable": 2}},
                 id="int-or-string"),
    pytest.param(envelope("authentication.k8s.io/v1", "SelfSubjectReview", msg(
        (1, msg((1, ""))),
        (2, msg((1, msg((1, "me"), (4, entry("k", msg((1, "a"), (1, "b")))))))))),
                 {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                  "metadata": {}, "status": {"userInfo": {"username": "me",
                                                          "extra": {"k": ["a", "b"]}}}},
                 id="slice-message-is-a-list"),
    pytest.param(envelope("networking.k8s.io/v1", "Ingress", msg(
        (1, msg((1, "ing"))),
        (2, msg((3, msg((1, "foo.com"),
                        (2, msg((1, msg((1, msg((1, "/bar"), (3, "Prefix"))))))))))))),
                 {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                  "metadata": {"name": "ing"},
                  "spec": {"rules": [{"host": "foo.com", "http": {"paths": [
                      {"path": "/bar", "pathType": "Prefix"}]}}]}},
                 id="inline-struct-merged-into-parent"),
])
def test_decode(body, expected):
    assert protobuf.decode(body) == expected


@pytest.mark.parametrize(("body", "error"), [
    pytest.param(b"{}", protobuf.BadProtobuf, id="no-magic"),
    pytest.param(envelope("fedns.io/v1alpha1", "IPPool", b""), protobuf.UnsupportedKind,
                 id="custom-kind"),
    pytest.param(protobuf.MAGIC + b"\x0a\x05ab", protobuf.BadProtobuf, id="truncated"),
])
def test_decode_refuses(body, error):
    with pytest.raises(error):
        protobuf.decode(body)
