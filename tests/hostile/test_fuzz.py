"""Generated bodies for every kind a server lists, through every write verb and media
type, against a real ``fedns sim`` member and a real ``fedns run`` API: no answer is
ever a 5xx, nor is the Table of whatever was stored."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedns.kapi import shapes
from tests.hostile.conftest import Target

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
SCALARS = (st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(
    allow_nan=False, allow_infinity=False, width=32) | st.sampled_from(
    ["", "x", "80", "TCP", "LoadBalancer", "None", "2024-01-01T00:00:00Z", "2024-01-01",
     "10.0.0.1", "192.0.2.0/24", "In", "a/b", "\u00e9"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "name", "port", "type", "ip", "spec", "matchLabels", "x"]), inner,
    max_size=3), max_leaves=8)
BASES = {
    "Service": {"spec": {"ports": [{"port": 80}], "type": "LoadBalancer"}},
    "Deployment": {"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}},
    "EndpointSlice": {"addressType": "IPv4"},
    "IPPool": {"spec": {"site": "s", "addresses": ["198.51.100.0/28"]}},
}
WRITES = [("POST", "", "application/json"), ("POST", "", "application/yaml"),
          ("PUT", "/{name}", "application/json"),
          ("PUT", "/{name}/status", "application/json"),
          ("PATCH", "/{name}", "application/merge-patch+json"),
          ("PATCH", "/{name}", "application/strategic-merge-patch+json"),
          ("PATCH", "/{name}", "application/json-patch+json"),
          ("PATCH", "/{name}?fieldManager=fuzz&force=true", "application/apply-patch+yaml")]


def fields_of(kind: dict) -> list[str]:
    group = kind["apiVersion"].rpartition("/")[0]
    table = {**shapes.METADATA, **shapes.SHAPES.get((group, kind["kind"]), shapes.SPEC_STATUS)}
    return [*table, "spec.site", "spec.addresses", "spec.x.y", "data"]


def put_at(obj: dict, field: str, value: object) -> None:
    """Set ``field`` (``a.b[].c``: the first item of b) in ``obj``, making parents."""
    node: object = obj
    parts = field.split(".")
    for i, part in enumerate(parts):
        name, items = part.replace("[]", ""), part.count("[]")
        last = i == len(parts) - 1
        if not isinstance(node, dict):
            return
        if last and not items:
            node[name] = value
            return
        child = node.get(name)
        wanted = list if items else dict
        if not isinstance(child, wanted) or not child:
            child = node[name] = [{}] if items else {}
        node = child
        for depth in range(items):
            assert isinstance(node, list)
            if last and depth == items - 1:
                node[0] = value
                return
            if not isinstance(node[0], (dict, list)):
                node[0] = {}
            node = node[0]


@st.composite
def requests(draw: st.DrawFn, kinds: list[dict]) -> tuple[dict, str, str, str, bytes]:
    kind = draw(st.sampled_from(kinds))
    name = draw(st.sampled_from(["f1", "f2", "f3"]))
    obj = {"apiVersion": kind["apiVersion"], "kind": kind["kind"], "metadata": {"name": name},
           **json.loads(json.dumps(BASES.get(kind["kind"], {})))}
    for field in draw(st.lists(st.sampled_from(fields_of(kind)), min_size=1, max_size=3)):
        if field not in ("metadata.name", "apiVersion", "kind"):
            put_at(obj, field, draw(VALUES))
    method, below, content_type = draw(st.sampled_from(WRITES))
    if content_type == "application/json-patch+json":
        payload: object = [{"op": draw(st.sampled_from(["add", "replace", "remove", "copy",
                                                        "move", "test"])),
                            "path": "/" + draw(st.sampled_from(fields_of(kind))).replace(
                                "[]", "/0").replace(".", "/"),
                            "from": "/metadata", "value": draw(VALUES)}]
    elif method == "PATCH" and "apply" not in content_type:
        payload = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    else:
        payload = obj
    if content_type.endswith("yaml") and draw(st.booleans()):
        data = yaml.safe_dump(payload).encode()
    else:
        data = json.dumps(payload).encode()
    return kind, method, kind["collection"] + below.format(name=name), content_type, data


def fuzz(target: Target, examples: int) -> None:
    kinds = target.kinds()

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(requests(kinds))
    def check(request: tuple[dict, str, str, str, bytes]) -> None:
        kind, method, path, content_type, data = request
        code, raw = target.request(method, path, data, content_type)
        assert code < 500, (method, path, content_type, data[:400], raw[:400])
        if code < 300:
            name = json.loads(raw)["metadata"]["name"]
            code, raw = target.request("GET", f"{kind['collection']}/{name}",
                                       headers={"Accept": TABLE})
            assert code < 500, (path, raw[:400])

    check()
    assert target.alive()


def test_generated_bodies_never_get_a_5xx(target):
    fuzz(target, 300 if target.name == "sim" else 150)
