"""The sim's control server: an HTTP endpoint on loopback to make trouble in the
running members (:mod:`fedns.sim.trouble`) and to stop and start their APIs.

Routes (JSON bodies; every answer is JSON, errors ``{"error": "one line"}``)::

    GET  /members                                       the members, URLs, running or not
    POST /members/M/stop                                close M's API port (state kept)
    POST /members/M/start                               open it again on the same port
    POST /members/M/nodes/N/ready     {"ready": false}  Node N NotReady (or Ready again)
    POST /members/M/nodes/N/capacity  {"cpu": "1", "memory": "1Gi", "pods": "4"}
    POST /members/M/namespaces/NS/pods/P/ready  {"ready": false}
    POST /members/M/namespaces/NS/pods/P/fail

With a token, requests must carry ``Authorization: Bearer <token>``, as the members
require.  Not for: anything the members' own APIs serve.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from fedns.kapi import status
from fedns.sim import cluster, trouble

Obj = dict[str, Any]


def _answer(body: Any, code: int = 200) -> web.Response:
    return web.Response(status=code, text=json.dumps(body) + "\n",
                        content_type="application/json")


class ControlServer:
    def __init__(self, members: Sequence[cluster.Member], token: str | None = None) -> None:
        self.members = {m.name: m for m in members}
        self.token = token
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/members", self._list)
        app.router.add_post("/members/{member}/{action:stop|start}", self._power)
        app.router.add_post("/members/{member}/nodes/{node}/ready", self._node_ready)
        app.router.add_post("/members/{member}/nodes/{node}/capacity", self._capacity)
        app.router.add_post("/members/{member}/namespaces/{namespace}/pods/{pod}/ready",
                            self._pod_ready)
        app.router.add_post("/members/{member}/namespaces/{namespace}/pods/{pod}/fail",
                            self._pod_fail)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the bound port when asked for 0
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _answer({"error": "Unauthorized"}, 401)
        try:
            return await handler(request)
        except status.ApiError as err:
            return _answer({"error": err.message}, err.code)
        except web.HTTPException:
            raise
        except (ValueError, TypeError) as err:
            return _answer({"error": str(err)}, 400)

    def _member(self, request: web.Request) -> cluster.Member:
        name = request.match_info["member"]
        if name not in self.members:
            raise status.ApiError(404, "NotFound", f"no member {name!r}")
        return self.members[name]

    async def _body(self, request: web.Request) -> Obj:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        return body

    async def _list(self, request: web.Request) -> web.Response:
        return _answer({"members": [{"name": m.name, "url": m.url, "running": m.running}
                                    for m in self.members.values()]})

    async def _power(self, request: web.Request) -> web.Response:
        member = self._member(request)
        if request.match_info["action"] == "stop":
            await member.stop()
        else:
            await member.start()
        return _answer({"name": member.name, "url": member.url, "running": member.running})

    async def _node_ready(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        ready = body.get("ready", True)
        if not isinstance(ready, bool):
            raise TypeError(f"ready must be true or false, got {ready!r}")
        node = await trouble.set_node_ready(self._member(request).storage,
                                            request.match_info["node"], ready)
        return _answer(node)

    async def _capacity(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        node = await trouble.set_node_capacity(self._member(request).storage,
                                               request.match_info["node"],
                                               {k: str(v) for k, v in body.items()})
        return _answer(node)

    async def _pod_ready(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        ready = body.get("ready", True)
        if not isinstance(ready, bool):
            raise TypeError(f"ready must be true or false, got {ready!r}")
        pod = await trouble.set_pod_ready(self._member(request).storage,
                                          request.match_info["namespace"],
                                          request.match_info["pod"], ready)
        return _answer(pod)

    async def _pod_fail(self, request: web.Request) -> web.Response:
        pod = await trouble.fail_pod(self._member(request).storage,
                                     request.match_info["namespace"], request.match_info["pod"])
        return _answer(pod)
