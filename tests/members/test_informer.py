"""The informer's watch on aiohttp: lines across chunks, huge objects, refused credentials."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
import yaml
from aiohttp import web

from fedns.members import informer, transport
from fedns.sim import cluster
from tests.members.conftest import SERVICES, lb_service
from tests.members.test_member import running
from tests.support import aio

STREAM = (b'{"type":"ADDED","object":{"a":1}}\n'
          b'\n'
          b'{"type":"MODIFIED","object":{"b":"x\\ny"}}\r\n'
          b'{"type":"DELETED","object":{"c":[1,2,3]}}\n')
LINES = [b'{"type":"ADDED","object":{"a":1}}',
         b'{"type":"MODIFIED","object":{"b":"x\\ny"}}\r',
         b'{"type":"DELETED","object":{"c":[1,2,3]}}']


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("chunks", [
    pytest.param([STREAM], id="one-chunk"),
    pytest.param([STREAM[i:i + 1] for i in range(len(STREAM))], id="byte-by-byte"),
    pytest.param(chunked(STREAM, [10, 34, 35, 36, 60]), id="cut-inside-and-at-newlines"),
    pytest.param(chunked(STREAM, [34]), id="cut-right-after-a-newline"),
    pytest.param(chunked(STREAM, [33]), id="cut-right-before-a-newline"),
    pytest.param([b"", STREAM[:5], b"", STREAM[5:]], id="empty-chunks"),
])
def test_lines_are_the_same_however_the_stream_is_cut(chunks):
    lines = informer.Lines()
    out = [line for chunk in chunks for line in lines.feed(chunk)] + lines.end()
    assert out == LINES


@pytest.mark.parametrize("chunks,expected", [
    pytest.param([b'{"a":1}\n{"b":', b"2}"], [b'{"a":1}', b'{"b":2}'], id="last-line-unterminated"),
    pytest.param([b"\n\n", b"  \n"], [], id="only-blank-lines"),
    pytest.param([b"x" * 70_000, b"y" * 70_000 + b"\nz\n"], [b"x" * 70_000 + b"y" * 70_000, b"z"],
                 id="line-longer-than-64KiB"),
])
def test_lines_edge_cases(chunks, expected):
    lines = informer.Lines()
    assert [line for chunk in chunks for line in lines.feed(chunk)] + lines.end() == expected


async def test_a_service_larger_than_64KiB_arrives_through_the_watch(sim):
    sims, path = sim
    async with running(path, "umich") as m:
        await aio.until(m.synced, 10, "initial sync")
        big = lb_service("big")
        blob = "".join(chr(ord("a") + i % 26) for i in range(300_000))  # ~300 KiB, one line
        big["metadata"]["annotations"] = {"example.com/blob": blob}
        await sims[0].server.storage.create(SERVICES, "default", big)
        await sims[0].server.storage.create(SERVICES, "default", lb_service("after-big"))
        await aio.until(lambda: "default/after-big" in m.services, 10, "events after the big one")
        got = m.services["default/big"]["metadata"]["annotations"]["example.com/blob"]
        assert got == blob
        assert m.informers["Service"].relists == 1, "it came through the watch, not a relist"
        assert m.informers["Service"].last_error == ""


async def test_a_wrong_token_is_one_line_and_backs_off(sim, tmp_path):
    sims, _path = sim
    path = str(tmp_path / "wrong-token")
    cluster.write_kubeconfig(sims, path, token="wrong")
    async with running(path, "umich") as m:
        inf = m.informers["Service"]
        start = time.monotonic()
        await aio.until(lambda: inf.failures >= 4, 10, "four failed lists")
        elapsed = time.monotonic() - start
        # three backoff sleeps of at least half of 0.2, 0.4 and 0.8 s came in between
        assert elapsed >= 0.7
        assert inf.last_error == "HTTP 401: Unauthorized"
        assert not m.synced() and inf.relists == 0
        assert not any(task.done() for task in m._tasks), "nothing crashed"
        await aio.until(lambda: inf.failures >= 5, 10, "five failed lists")
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 1.0, "stop() does not wait out the backoff"


def svc(name: str, rv: int) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)}}


@pytest.fixture
async def fake_api(tmp_path):
    """An API server for one collection, scripted: the first watch answers HTTP 410, the
    second streams events cut in odd places, later ones hang until the test ends."""
    lists = [([svc("a", 1), svc("b", 2)], "2"), ([svc("a", 1), svc("c", 3)], "3")]
    watches: list[dict[str, str]] = []
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "1":
            items, rv = lists.pop(0) if len(lists) > 1 else lists[0]
            return web.json_response({"items": items, "metadata": {"resourceVersion": rv}})
        watches.append(dict(request.query))
        if len(watches) == 1:
            return web.json_response({"kind": "Status", "code": 410, "reason": "Expired"},
                                     status=410)
        response = web.StreamResponse()
        await response.prepare(request)
        if len(watches) == 2:
            stream = b"".join(json.dumps(e).encode() + b"\n" for e in [
                {"type": "ADDED", "object": svc("d", 4)},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "10"}}}])
            for piece in (stream[:7], stream[7:40], stream[40:-1], stream[-1:]):
                await response.write(piece)
                await asyncio.sleep(0)
        else:
            await done.wait()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/services", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = f"http://127.0.0.1:{runner.addresses[0][1]}"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c"}))
    try:
        yield str(path), watches
    finally:
        done.set()
        await runner.cleanup()


async def test_http_410_on_the_watch_relists_and_chunked_events_apply(fake_api):
    path, watches = fake_api
    t = transport.Transport.from_kubeconfig(path)
    await t.start()
    events: list[tuple[str, bool]] = []
    inf = informer.Informer("Service", "/api/v1/services", t,
                            lambda kind, key, obj, old: events.append((key, obj is None)))
    task = asyncio.create_task(inf.run())
    try:
        await aio.until(lambda: len(watches) >= 3 and inf.resource_version == "10", 10,
                        "the second watch's events and bookmark")
        assert inf.relists == 2
        assert sorted(inf.cache) == ["default/a", "default/c", "default/d"]
        assert events == [("default/a", False), ("default/b", False),  # first list
                          ("default/c", False), ("default/b", True),  # relist: the diff
                          ("default/d", False)]  # the watch
        assert [w["resourceVersion"] for w in watches] == ["2", "3", "10"]
        assert watches[0]["allowWatchBookmarks"] == "true"
        inf.stop()
        await asyncio.wait_for(task, 2)  # stop() ends a hanging watch at once
    finally:
        task.cancel()
        await t.close()
