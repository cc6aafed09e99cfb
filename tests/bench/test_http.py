"""The load generator's lean HTTP client against a real aiohttp server."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bench.convergence import http


@pytest.fixture
async def server():
    seen: list[tuple[str, bytes]] = []

    async def fixed(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read()))
        return web.json_response({"ok": True}, status=201)

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=404)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b'{"a":', b'"' + b"x" * 5000 + b'"', b"}"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_route("*", "/fixed", fixed)
    app.router.add_route("*", "/chunked", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_statuses_bodies_and_reused_connections(server):
    base, seen = server
    client = http.Client(limit=2)
    try:
        statuses = await asyncio.gather(*(client.request("POST", base + "/fixed", {"n": i})
                                          for i in range(6)))
        assert statuses == [201] * 6
        assert sorted(body for _, body in seen) == sorted(
            b'{"n": %d}' % i for i in range(6))
        assert await client.request("DELETE", base + "/chunked") == 404  # chunked body read
        assert await client.request("GET", base + "/fixed") == 201, "the connection goes on"
        assert len(client._idle[("127.0.0.1", int(base.rsplit(":", 1)[1]))]) <= 2
    finally:
        client.close()


async def test_only_plain_http():
    with pytest.raises(ValueError, match="only http"):
        await http.Client().request("GET", "https://127.0.0.1:1/")
