"""Hostile request bodies against a real ``fedns sim`` member and a real ``fedns run``
API: every one gets its 4xx within a second, and the server serves normally after."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.hostile.conftest import Target
from tests.support import procs
from tests.test_safeload import alias_bomb

# the collection each target takes generic bodies on, and a valid object for it
COLLECTIONS = {"sim": "/api/v1/namespaces/default/configmaps",
               "appliance": "/apis/fedns.io/v1alpha1/ippools"}


def valid(target: Target, name: str) -> dict:
    if target.name == "sim":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                "data": {"a": "b"}}
    return {"apiVersion": "fedns.io/v1alpha1", "kind": "IPPool", "metadata": {"name": name},
            "spec": {"site": "s", "addresses": ["198.51.100.0/28"]}}


def yaml_bomb(target: Target, levels: int = 9) -> bytes:
    head = "apiVersion: v1\nkind: ConfigMap\n" if target.name == "sim" else \
        "apiVersion: fedns.io/v1alpha1\nkind: IPPool\n"
    nested = alias_bomb(levels).decode().replace("\n", "\n  ")
    return f"{head}metadata: {{name: bomb}}\nx:\n  {nested}\n".encode()


def deep_json(depth: int) -> bytes:
    return b'{"metadata": {"name": "deep"}, "x": ' + b"[" * depth + b"]" * depth + b"}"


# (id, method, path below the collection, content type, body maker, expected code)
HOSTILE = [
    ("alias-bomb-yaml", "POST", "", "application/yaml", lambda t: yaml_bomb(t), 400),
    ("alias-bomb-apply", "PATCH", "/bomb?fieldManager=m", "application/apply-patch+yaml",
     lambda t: yaml_bomb(t), 400),
    ("deep-json", "POST", "", "application/json", lambda t: deep_json(10_000), 400),
    ("deep-yaml-flow", "POST", "", "application/yaml",
     lambda t: b"metadata: {name: deep}\nx: " + b"[" * 10_000 + b"]" * 10_000, 400),
    ("deep-yaml-block", "POST", "", "application/yaml",
     lambda t: b"metadata: {name: deep}\nx:\n" + b"- " * 10_000 + b"x\n", 400),
    ("deep-merge-patch", "PATCH", "/kept", "application/merge-patch+json",
     lambda t: deep_json(5_000), 400),
    ("huge-4mib", "POST", "", "application/json",
     lambda t: json.dumps({**valid(t, "huge"), "x": "y" * (4 << 20)}).encode(), 413),
    ("huge-10mb-configmap", "POST", "", "application/json",
     lambda t: json.dumps({**valid(t, "huge"), "data": {"a": "y" * 10_000_000}}).encode(),
     413),
    ("invalid-utf8-json", "POST", "", "application/json",
     lambda t: b'{"metadata": {"name": "bad\xff"}}', 400),
    ("invalid-utf8-yaml", "POST", "", "application/yaml",
     lambda t: b"metadata: {name: bad}\nx: \xc3\x28", 400),
    ("nan", "POST", "", "application/json", lambda t: b'{"metadata": {"name": "n"}, "x": NaN}',
     400),
    ("text-plain", "POST", "", "text/plain", lambda t: json.dumps(valid(t, "t")).encode(), 415),
    ("xml", "PUT", "/kept", "application/xml", lambda t: b"<ConfigMap/>", 415),
    ("cbor", "POST", "", "application/cbor", lambda t: b"\xa1\x61a\x01", 415),
    ("patch-as-json", "PATCH", "/kept", "application/json", lambda t: b"{}", 415),
    ("garbage-protobuf", "POST", "", "application/vnd.kubernetes.protobuf",
     lambda t: b"k8s\x00\xff\xff\xff\xff", 415),
    ("json-patch-bad-path", "PATCH", "/kept", "application/json-patch+json",
     lambda t: b'[{"op": "add", "path": 5, "value": 1}]', 422),
    ("json-patch-copy-bomb", "PATCH", "/kept", "application/json-patch+json",
     lambda t: json.dumps([{"op": "copy", "from": "", "path": f"/c{i}"}
                           for i in range(60)]).encode(), 422),
    ("not-an-object", "PUT", "/kept", "application/json", lambda t: b"[1, 2, 3]", 400),
    ("delete-options", "DELETE", "/kept", "application/json",
     lambda t: b'{"preconditions": "x"}', 400),
]


@pytest.mark.parametrize(("method", "below", "content_type", "make", "expected"),
                         [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_hostile_body_is_4xx_within_a_second(target, method, below, content_type, make,
                                               expected):
    collection = COLLECTIONS[target.name]
    target.json("POST", collection, valid(target, "kept"))  # 409 once it exists
    data = make(target)
    started = time.monotonic()
    code, raw = target.request(method, collection + below, data, content_type)
    elapsed = time.monotonic() - started
    assert code == expected, raw[:300]
    status = json.loads(raw)
    assert status["kind"] == "Status" and status["code"] == expected
    assert elapsed < 1.0, f"{elapsed:.2f}s"
    assert target.alive()
    code, kept = target.json("GET", collection + "/kept")
    assert code == 200 and kept["metadata"]["name"] == "kept"


WITHOUT_SPEC = {"ConfigMap", "Secret", "Event", "Endpoints", "EndpointSlice"}


def wrong_shapes(kind: dict) -> list[tuple[str, dict]]:
    """(the field named in the answer, a body typing it wrongly)."""
    def body(**fields: object) -> dict:
        obj: dict = {"apiVersion": kind["apiVersion"], "kind": kind["kind"],
                     "metadata": {"name": "shape"}}
        obj.update(fields)
        return obj
    cases = [("metadata", body(metadata=5)),
             ("metadata.labels", body(metadata={"name": "shape", "labels": ["a"]})),
             ("metadata.annotations.a", body(metadata={"name": "shape",
                                                       "annotations": {"a": 1}})),
             ("metadata.name", body(metadata={"name": ["x"]}))]
    if kind["kind"] not in WITHOUT_SPEC:
        cases += [("spec", body(spec=True)), ("spec", body(spec="x")),
                  ("status", body(status=[1]))]
    if kind["kind"] in ("ConfigMap", "Secret"):
        cases += [("data", body(data=5)), ("data.a", body(data={"a": {"b": 1}}))]
    if kind["kind"] == "Secret":
        cases += [("stringData", body(stringData=True))]
    return cases


def test_every_kind_refuses_wrong_shapes_by_field(target):
    kinds = target.kinds()
    assert len(kinds) >= (10 if target.name == "sim" else 3)
    for kind in kinds:
        for field, obj in wrong_shapes(kind):
            for method, path in (("POST", kind["collection"]),
                                 ("PUT", kind["collection"] + "/shape"))[
                                     :2 if "update" in kind["verbs"] else 1]:
                code, status = target.json(method, path, obj)
                assert code in (400, 422), (kind["kind"], field, method, code, status)
                causes = status["details"]["causes"]
                assert any(c["field"] == field for c in causes), (kind["kind"], causes)
    assert target.alive()


def test_the_9_level_alias_bomb_costs_no_time_and_no_memory(target):
    """The issue's done-criterion: 4xx in under a second, /healthz under 100 ms meanwhile,
    and the server's RSS grows by less than 50 MB."""
    collection = COLLECTIONS[target.name]
    target.request("POST", collection, b"metadata: {name: warm}\n", "application/yaml")
    before = target.rss_mb()
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            started = time.monotonic()
            assert target.request("GET", "/healthz", timeout=5)[0] == 200
            latencies.append(time.monotonic() - started)
    poller = threading.Thread(target=poll)
    poller.start()
    try:
        answers = []
        for method, path, content_type in (
                ("POST", collection, "application/yaml"),
                ("PATCH", collection + "/bomb?fieldManager=m", "application/apply-patch+yaml")):
            started = time.monotonic()
            code, raw = target.request(method, path, yaml_bomb(target), content_type)
            answers.append((code, time.monotonic() - started, raw))
        # a few probes after the bombs too
        procs.wait_for(lambda: len(latencies) >= 5 or not poller.is_alive(), 10,
                       "five /healthz probes")
    finally:
        done.set()
        poller.join()
    for code, elapsed, raw in answers:
        assert code == 400, raw[:300]
        assert b"excessive aliasing" in raw
        assert elapsed < 1.0
    assert max(latencies) < 0.1, latencies
    assert target.rss_mb() - before < 50
    assert target.alive()
