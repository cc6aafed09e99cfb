"""Protobuf request bodies: the envelope and the kinds typed clients send."""

from __future__ import annotations

import base64

import hypothesis
import pytest
from hypothesis import strategies as st

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


PROTO = """
syntax = "proto2";
package k8s.io.api.example.v1;
import "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto";

// Thing is a kind.
message Thing {
  // Standard object's metadata.
  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;
  optional ThingSpec spec = 2;
}

message ThingSpec {
  repeated string tags = 1;
  map<string, string> labels = 2;
  optional ThingValue thingValue = 3;
}

message ThingValue {
  optional int32 size = 1;
}

// +protobuf.nullable=true
message Names {
  repeated string items = 1;
}
"""


def test_protogen_reads_generated_proto(tmp_path):
    from fedns.kapi import protogen

    messages, slices = protogen.parse(PROTO)
    assert messages["example.v1.ThingSpec"] == [
        "1:tags:*string", "2:labels:{string}", "3:thingValue:example.v1.ThingValue"]
    assert slices == {"example.v1.Names"}
    protogen.mark_inline(messages, {"io.k8s.api.example.v1.ThingSpec": {
        "properties": {"tags": {}, "labels": {}, "size": {}}}})
    assert messages["example.v1.ThingSpec"][2] == "3:thingValue:^example.v1.ThingValue"


@hypothesis.given(data=st.dictionaries(st.text(min_size=1, max_size=8),
                                       st.text(max_size=8), max_size=5),
                  binary=st.dictionaries(st.text(min_size=1, max_size=8),
                                         st.binary(max_size=8), max_size=3))
def test_configmap_maps_round_trip(data, binary):
    raw = msg((1, msg((1, "c"))), *[(2, entry(k, v)) for k, v in data.items()],
              *[(3, entry(k, v)) for k, v in binary.items()])
    decoded = protobuf.decode(envelope("v1", "ConfigMap", raw))
    assert decoded.get("data", {}) == data
    assert {k: base64.b64decode(v) for k, v in decoded.get("binaryData", {}).items()} == binary


def test_every_table_name_is_a_json_field():
    """The generated tables spell each field as the JSON schema does (or mark it
    inline), so a decoded body carries no field kube-apiserver would call unknown."""
    from fedns.kapi import protofields, protogen, schemas

    definitions = schemas.definitions()
    wrong = []
    for name, spec in protofields.MESSAGES.items():
        properties = (definitions.get(protogen.definition_name(name)) or {}).get("properties")
        if not properties:
            continue
        wrong += [(name, entry) for entry in spec.split()
                  if not entry.split(":", 2)[2].startswith("^")
                  and entry.split(":", 2)[1] not in properties]
    assert wrong == []
