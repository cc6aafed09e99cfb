"""The member transport: kubeconfig semantics, path prefix, per-request token, one-line errors,
and the writes a Member makes, against real servers."""

from __future__ import annotations

import pytest
import yaml
from aiohttp import web

from fedns.members import member, transport
from tests.members.conftest import EVENTS, SERVICES, lb_service
from tests.members.test_member import running
from tests.support import aio


@pytest.fixture
async def recorder(tmp_path):
    """A plain HTTP server that records each request's path and Authorization header and
    answers 200 {"ok": true}, except 404 under /missing; and a kubeconfig whose server has
    the path prefix /prefix."""
    seen: list[tuple[str, str]] = []
    throttled: dict[str, int] = {"/prefix/busy": 2, "/prefix/broken": 1}

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("Authorization", "")))
        if throttled.get(request.path, 0) > 0:  # API priority and fairness says: later
            throttled[request.path] -= 1
            return web.json_response({"kind": "Status", "message": "too many requests"},
                                     status=429, headers={"Retry-After": "0"})
        if "/broken" in request.path:  # a 5xx without Retry-After is an answer
            return web.json_response({"kind": "Status", "message": "etcd timeout"},
                                     status=500)
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


@pytest.mark.parametrize("path, sent, outcome", [
    ("/busy", 3, None),  # two 429s with Retry-After, then the answer
    ("/broken", 2, 500),  # one 429, then a 500 without Retry-After: not retried
], ids=["throttled-then-ok", "throttled-then-error"])
async def test_a_throttled_request_comes_back_when_the_server_says(recorder, path, sent,
                                                                   outcome):
    kubeconfig, seen = recorder
    t = transport.Transport.from_kubeconfig(kubeconfig)
    await t.start()
    try:
        if outcome is None:
            assert await t.request_json("POST", path, body={"kind": "Event"}) == {"ok": True}
        else:
            with pytest.raises(transport.StatusError) as caught:
                await t.request("POST", path, body={"kind": "Event"})
            assert caught.value.status == outcome
    finally:
        await t.close()
    assert [p for p, _ in seen] == ["/prefix" + path] * sent


async def test_requests_need_a_started_transport(recorder):
    path, _seen = recorder
    t = transport.Transport.from_kubeconfig(path)
    with pytest.raises(transport.NotStarted):
        await t.request("GET", "/readyz")
    await t.start()
    await t.close()
    with pytest.raises(transport.NotStarted):
        await t.request("GET", "/readyz")


def test_an_unknown_context_is_one_line(recorder):
    path, _seen = recorder
    spec = member.MemberSpec(name="x", kubeconfig=path, context="nope")
    with pytest.raises(member.MemberConfigError) as caught:
        member.Member(spec)
    assert str(caught.value).startswith(f"member 'x': kubeconfig {path!r} context 'nope': ")
    assert "\n" not in str(caught.value)


# -- writes against the sim (HTTPS, token) -------------------------------------------


async def test_set_ingress_writes_the_service_status(sim):
    sims, path = sim
    storage = sims[0].server.storage
    await storage.create(SERVICES, "default", lb_service("web"))
    async with running(path, "umich") as m:
        await m.set_ingress("default", "web", ["192.0.2.7", "192.0.2.8"])
        svc = await storage.get(SERVICES, "default", "web")
        assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.7"},
                                                            {"ip": "192.0.2.8"}]
        await aio.until(lambda: m.services["default/web"].get("status", {}).get(
            "loadBalancer", {}).get("ingress"), 5, "the informer sees the write")
        with pytest.raises(member.ObjectGone) as caught:  # a MemberWriteError
            await m.set_ingress("default", "nope", ["192.0.2.9"])
        assert str(caught.value) == \
            "member 'umich': status of service default/nope: HTTP 404 Not Found"


async def test_record_event_creates_an_event_on_the_service(sim):
    sims, path = sim
    storage = sims[0].server.storage
    created = await storage.create(SERVICES, "default", lb_service("web"))
    async with running(path, "umich") as m:
        await m.record_event(created, "IPAllocated", "192.0.2.7 from pool a", "Normal")
        events = (await storage.list(EVENTS, "default")).items
        assert [(e["reason"], e["message"], e["involvedObject"]["name"],
                 e["involvedObject"]["uid"]) for e in events] == \
            [("IPAllocated", "192.0.2.7 from pool a", "web", created["metadata"]["uid"])]
        await sims[0].stop()
        with pytest.raises(member.MemberWriteError) as caught:
            await m.record_event(created, "IPAllocated", "again")
        assert str(caught.value).startswith("member 'umich': event IPAllocated: ")
        assert "\n" not in str(caught.value)
