"""The member transport: kubeconfig semantics, path prefix, per-request token, one-line errors."""

from __future__ import annotations

import pytest
import yaml
from aiohttp import web

from fedns.members import transport


@pytest.fixture
async def recorder(tmp_path):
    """A plain HTTP server that records each request's path and Authorization header and
    answers 200 {"ok": true}, except 404 under /missing; and a kubeconfig whose server has
    the path prefix /prefix."""
    seen: list[tuple[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("Authorization", "")))
        if "/missing" in request.path:
            return web.json_response({"kind": "Status", "message": 'things "x" not found\nmore'},
                                     status=404)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}/prefix/"}}],
        "users": [{"name": "u", "user": {"token": "first"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx"}))
    try:
        yield str(path), seen
    finally:
        await runner.cleanup()


async def test_path_prefix_query_and_a_token_asked_for_each_request(recorder):
    path, seen = recorder
    t = transport.Transport.from_kubeconfig(path, "ctx")
    await t.start()
    try:
        assert await t.request_json("GET", "/api/v1/nodes", params={"continue": "a b&c"}) == \
            {"ok": True}
        tokens = iter(["Bearer second", "Bearer third"])

        def refresh(configuration):  # what the loader's exec/OIDC hook does on expiry
            configuration.api_key["BearerToken"] = next(tokens)

        t.configuration.refresh_api_key_hook = refresh
        await t.request("GET", "/readyz", accept="text/plain")
        await t.request("POST", "/api/v1/namespaces/d/events", body={"kind": "Event"})
    finally:
        await t.close()
    assert seen == [("/prefix/api/v1/nodes?continue=a+b%26c", "Bearer first"),
                    ("/prefix/readyz", "Bearer second"),
                    ("/prefix/api/v1/namespaces/d/events", "Bearer third")]


async def test_a_non_2xx_answer_is_one_line_with_status_and_reason(recorder):
    path, _seen = recorder
    t = transport.Transport.from_kubeconfig(path)
    await t.start()
    try:
        with pytest.raises(transport.StatusError) as caught:
            await t.request("GET", "/missing")
    finally:
        await t.close()
    assert (caught.value.status, caught.value.reason) == (404, "Not Found")
    assert str(caught.value) == 'HTTP 404 Not Found: things "x" not found'


async def test_requests_need_a_started_transport(recorder):
    path, _seen = recorder
    t = transport.Transport.from_kubeconfig(path)
    with pytest.raises(transport.NotStarted):
        await t.request("GET", "/readyz")
    await t.start()
    await t.close()
    with pytest.raises(transport.NotStarted):
        await t.request("GET", "/readyz")
