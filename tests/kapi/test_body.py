"""Request bodies over a real socket: kube-apiserver's 413, 415 and 400 Status answers,
and a slow parse that never holds up other requests."""

from __future__ import annotations

import asyncio
import json
import threading

import aiohttp
import pytest

from fedns import kapi, safeload
from fedns.kapi import body, builtin
from fedns.store import memory

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}}


@pytest.fixture
async def http():
    store = memory.MemoryStore()
    server = kapi.Server(store, builtin.registry())
    await server.start("127.0.0.1", 0)
    await server.storage.create(server.registry.lookup("", "v1", "namespaces"), "",
                                {"metadata": {"name": "default"}})
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session
    await server.stop()
    await store.close()


async def send(http, method: str, path: str, data: bytes | None,
               content_type: str | None = "application/json") -> tuple[int, dict]:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    skip = () if content_type is not None else ("Content-Type",)  # none at all
    async with http.request(method, path, data=data, headers=headers,
                            skip_auto_headers=skip) as response:
        return response.status, json.loads(await response.read())


@pytest.mark.parametrize(("method", "path", "content_type", "accepted"), [
    ("POST", CONFIGMAPS, "text/plain", "application/json, application/yaml"),
    ("POST", CONFIGMAPS, "application/cbor", "application/vnd.kubernetes.protobuf"),
    ("PUT", CONFIGMAPS + "/cm", "application/merge-patch+json", "application/json"),
    ("PATCH", CONFIGMAPS + "/cm", "application/json", "application/merge-patch+json"),
    ("PATCH", CONFIGMAPS + "/cm", "application/yaml", "application/apply-patch+yaml"),
], ids=["post-text", "post-cbor", "put-merge-patch", "patch-json", "patch-yaml"])
async def test_a_media_type_the_verb_does_not_take_is_415(http, method, path, content_type,
                                                          accepted):
    await send(http, "POST", CONFIGMAPS, json.dumps(CM).encode())
    code, status = await send(http, method, path, json.dumps(CM).encode(), content_type)
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    assert accepted in status["message"]


async def test_no_content_type_on_a_post_is_json(http):
    code, created = await send(http, "POST", CONFIGMAPS, json.dumps(CM).encode(), None)
    assert code == 201 and created["data"] == {"a": "b"}


async def test_over_3_mib_is_413_with_and_without_content_length(http):
    big = json.dumps({**CM, "data": {"a": "x" * body.MAX_BYTES}}).encode()
    code, status = await send(http, "POST", CONFIGMAPS, big)
    assert (code, status["reason"]) == (413, "RequestEntityTooLarge")
    assert status["message"] == "Request entity too large: limit is 3145728"

    async def chunks():
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]
    async with http.post(CONFIGMAPS, data=chunks(),
                         headers={"Content-Type": "application/json"}) as response:
        assert response.status == 413
    exactly = json.dumps(CM).encode().ljust(body.MAX_BYTES)  # JSON may end in spaces
    code, created = await send(http, "POST", CONFIGMAPS, exactly)
    assert code == 201, created


@pytest.mark.parametrize(("content_type", "data", "message"), [
    ("application/json", b'{"metadata": {"name": "\xff"}}', "not valid UTF-8"),
    ("application/yaml", b"metadata: {name: \xc3}", "not valid UTF-8"),
    ("application/json", b"[" * 10_000 + b"]" * 10_000, "nested deeper than 100 levels"),
    ("application/yaml", b"- " * 10_000 + b"x", "nested deeper than 100 levels"),
    ("application/json", b'{"metadata": {"name": "x"}, "data": NaN}', "NaN"),
    ("application/json", b'{"metadata": ', "not valid JSON"),
    ("application/yaml", b"a: &a [*a]", "refers to a node that contains it"),
    ("application/json", b"[1, 2]", "must be a JSON object"),
    ("application/yaml", b"", "the request body is empty"),
], ids=["json-utf8", "yaml-utf8", "json-deep", "yaml-deep", "nan", "truncated",
        "recursive-alias", "not-an-object", "empty"])
async def test_undecodable_bodies_are_400(http, content_type, data, message):
    code, status = await send(http, "POST", CONFIGMAPS, data, content_type)
    assert (code, status["reason"]) == (400, "BadRequest"), status
    assert message in status["message"]


async def test_json_patch_operations_are_limited(http):
    await send(http, "POST", CONFIGMAPS, json.dumps(CM).encode())
    operations = [{"op": "test", "path": "/data/a", "value": "b"}] * 10_001
    code, status = await send(http, "PATCH", CONFIGMAPS + "/cm",
                              json.dumps(operations).encode(), "application/json-patch+json")
    assert (code, status["reason"]) == (413, "RequestEntityTooLarge")
    assert "maximum operations in a JSON patch is 10000, got 10001" in status["message"]


@pytest.mark.parametrize("options", [
    {"preconditions": 5}, {"preconditions": {"uid": ["x"]}}, {"gracePeriodSeconds": "soon"},
    {"dryRun": "All"}, [1],
], ids=["preconditions", "uid", "grace", "dry-run", "list"])
async def test_wrongly_typed_delete_options_are_400(http, options):
    await send(http, "POST", CONFIGMAPS, json.dumps(CM).encode())
    code, status = await send(http, "DELETE", CONFIGMAPS + "/cm", json.dumps(options).encode())
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"].startswith("invalid DeleteOptions")
    code, _ = await send(http, "GET", CONFIGMAPS + "/cm", None)
    assert code == 200


async def test_a_slow_yaml_body_does_not_hold_up_other_requests(http, monkeypatch):
    """A large body is parsed on a thread of its own, not on the event loop: asserted
    by where the parse ran, not by a timed assertion."""
    parsed_on = []
    real = safeload.load_yaml

    def recorded(raw, limits):
        parsed_on.append(threading.current_thread())
        return real(raw, limits)
    monkeypatch.setattr(safeload, "load_yaml", recorded)
    items = "".join(f"  k{i}: v{i}\n" for i in range(60_000))
    big = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n{items}".encode()
    posting = asyncio.ensure_future(send(http, "POST", CONFIGMAPS, big, "application/yaml"))
    answered = 0
    while not posting.done():
        async with http.get("/healthz") as response:
            assert response.status == 200
        answered += 1
    code, created = await posting
    assert code == 201 and len(created["data"]) == 60_000
    assert answered >= 1
    assert parsed_on and all(t is not threading.main_thread() for t in parsed_on), parsed_on
