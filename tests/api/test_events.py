"""fedns.api.events over a real APIServer (memory Store, HTTP): the endpoint's own Events
and the members' read-only ones, listed, read, selected, watched and refused."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from fedns import templates
from fedns.api import events as events_mod
from fedns.api import server as api_server
from fedns.kapi import registry as kapi_registry
from fedns.store import memory
from tests.support import aio

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def event(name: str, namespace: str = "default", involved: str = "web", **extra) -> dict:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "77",
                         "managedFields": [{"manager": "kube-controller-manager"}]},
            "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": involved, "namespace": namespace},
            "reason": "ScalingReplicaSet", "message": f"{name} happened", "type": "Normal",
            "source": {"component": "deployment-controller"}, "count": 1, **extra}


class Members:
    """What the informers would hold: member -> {key: Event}; changes go to the hub."""

    def __init__(self, hub: events_mod.Hub) -> None:
        self.hub = hub
        self.held: dict[str, dict[str, dict]] = {}

    def put(self, member: str, obj: dict) -> None:
        obj = events_mod.trim(obj)
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        old = self.held.setdefault(member, {}).get(key)
        self.held[member][key] = obj
        self.hub.changed(f"{member}/Event", key, obj, old)

    def drop(self, member: str, namespace: str, name: str) -> None:
        key = f"{namespace}/{name}"
        old = self.held[member].pop(key)
        self.hub.changed(f"{member}/Event", key, None, old)

    def __call__(self):
        for member in sorted(self.held):
            for obj in self.held[member].values():
                yield member, obj


@pytest.fixture
async def endpoint():
    store = memory.MemoryStore()
    hub = events_mod.Hub()
    members = Members(hub)
    kinds = [events_mod.kind(k) if events_mod.is_events(k) else k for k in templates.kinds()]
    srv = api_server.APIServer(store, kapi_registry.Registry(kinds), CollectorRegistry(),
                               dict, token=TOKEN, events=members, event_hub=hub)
    await templates.seed(srv.storage)
    await srv.start("127.0.0.1", 0)
    async with aiohttp.ClientSession(base_url=srv.url) as http:
        yield http, members, srv
    await srv.stop()
    await store.close()


async def own(http, name: str, namespace: str = "default", involved: str = "web") -> None:
    body = event(name, namespace, involved, reason="Placed", message="placed by default")
    del body["metadata"]["resourceVersion"]
    async with http.post(f"/api/v1/namespaces/{namespace}/events", json=body,
                         headers=AUTH) as r:
        assert r.status == 201, await r.text()


async def names(http, path: str, **params) -> list[tuple[str, str]]:
    async with http.get(path, params=params) as r:
        assert r.status == 200, await r.text()
        items = (await r.json())["items"]
    return [(o["metadata"]["name"],
             (o["metadata"].get("annotations") or {}).get(events_mod.MEMBER, "")) for o in items]


async def test_lists_hold_the_endpoints_and_every_members(endpoint):
    http, members, _ = endpoint
    await own(http, "web.own")
    await own(http, "db.own", "kube-system", involved="db")
    members.put("umich", event("web.umich"))
    members.put("ucsd", event("web.ucsd"))
    members.put("ucsd", event("db.ucsd", "kube-system", "db"))
    # by namespace, name and member
    assert await names(http, "/api/v1/events") == [
        ("web.own", ""), ("web.ucsd", "ucsd"), ("web.umich", "umich"),
        ("db.own", ""), ("db.ucsd", "ucsd")]
    assert await names(http, "/api/v1/namespaces/kube-system/events") == [
        ("db.own", ""), ("db.ucsd", "ucsd")]
    # kubectl describe's selector: by involvedObject, both kinds of Event
    assert await names(http, "/api/v1/namespaces/default/events",
                       fieldSelector="involvedObject.name=web,involvedObject.kind=Deployment") == [
        ("web.own", ""), ("web.ucsd", "ucsd"), ("web.umich", "umich")]
    assert await names(http, "/api/v1/events", fieldSelector="involvedObject.uid=nope") == []
    async with http.get("/api/v1/namespaces/default/events/web.umich") as r:
        one = await r.json()
    assert one["metadata"]["annotations"][events_mod.MEMBER] == "umich"
    assert "managedFields" not in one["metadata"]  # the informer keeps none
    async with http.get("/api/v1/namespaces/default/events/nothing") as r:
        assert r.status == 404


async def test_the_table_names_each_events_member(endpoint):
    http, members, _ = endpoint
    await own(http, "web.own")
    members.put("uva", event("web.uva"))
    async with http.get("/api/v1/namespaces/default/events", headers={"Accept": TABLE}) as r:
        table = await r.json()
    headers = [c["name"] for c in table["columnDefinitions"]]
    assert headers[:6] == ["Last Seen", "Type", "Reason", "Object", "Member", "Subobject"]
    member_cells = sorted(row["cells"][4] for row in table["rows"])
    assert member_cells == [events_mod.ENDPOINT, "uva"]


@pytest.mark.parametrize("method, body", [
    ("DELETE", None), ("PUT", event("web.umich")), ("PATCH", {"message": "x"}),
], ids=["delete", "update", "patch"])
async def test_a_members_event_is_read_only_the_endpoints_are_not(endpoint, method, body):
    http, members, _ = endpoint
    members.put("umich", event("web.umich"))
    await own(http, "web.own")
    headers = {**AUTH, "Content-Type": "application/merge-patch+json"} if method == "PATCH" \
        else AUTH
    async with http.request(method, "/api/v1/namespaces/default/events/web.umich",
                            data=json.dumps(body) if body else None, headers=headers) as r:
        assert r.status == 405
        status = await r.json()
    assert status["reason"] == "MethodNotAllowed"
    assert 'belongs to member "umich"' in status["message"] and "read-only" in status["message"]
    async with http.delete("/api/v1/namespaces/default/events/web.own", headers=AUTH) as r:
        assert r.status == 200
    assert await names(http, "/api/v1/events") == [("web.umich", "umich")]


async def test_delete_collection_deletes_only_the_endpoints(endpoint):
    http, members, _ = endpoint
    members.put("umich", event("web.umich"))
    await own(http, "web.own")
    async with http.delete("/api/v1/namespaces/default/events", headers=AUTH) as r:
        assert r.status == 200
    assert await names(http, "/api/v1/events") == [("web.umich", "umich")]


async def test_a_watch_streams_both(endpoint):
    http, members, srv = endpoint
    members.put("umich", event("web.umich"))
    await own(http, "web.own")
    seen: list[tuple[str, str, str]] = []

    async def watch():
        async with http.get("/api/v1/namespaces/default/events",
                            params={"watch": "1", "timeoutSeconds": "20",
                                    "fieldSelector": "involvedObject.name=web"}) as r:
            async for line in r.content:
                e = json.loads(line)
                meta = e["object"]["metadata"]
                seen.append((e["type"], meta["name"],
                             (meta.get("annotations") or {}).get(events_mod.MEMBER, "")))
                int(meta["resourceVersion"])  # the endpoint's revision, a number

    task = asyncio.create_task(watch())
    try:
        # no resourceVersion: the current ones first
        await aio.until(lambda: len(seen) >= 2, 10, "the initial events")
        assert sorted(seen) == [("ADDED", "web.own", ""), ("ADDED", "web.umich", "umich")]
        await aio.until(lambda: srv.event_hub.watchers == 1, 5, "the watch subscribed")
        members.put("ucsd", event("web.ucsd"))
        members.put("ucsd", event("web.ucsd", count=2))
        members.put("ucsd", event("other.ucsd", involved="other"))  # not selected
        members.drop("umich", "default", "web.umich")
        await own(http, "web.own2")
        await aio.until(lambda: len(seen) >= 6, 10, "the changes")
        assert seen[2:] == [("ADDED", "web.ucsd", "ucsd"), ("MODIFIED", "web.ucsd", "ucsd"),
                            ("DELETED", "web.umich", "umich"), ("ADDED", "web.own2", "")]
    finally:
        task.cancel()
    await aio.until(lambda: srv.event_hub.watchers == 0, 5, "the watch unsubscribed")


def test_a_watcher_too_far_behind_is_ended(monkeypatch):
    monkeypatch.setattr(events_mod, "BACKLOG", 3)
    hub = events_mod.Hub()
    sub = hub.subscribe()
    for i in range(5):
        hub.changed("umich/Event", f"default/e{i}", event(f"e{i}"), None)
    assert sub.overflowed
    assert asyncio.run(sub.take()) == []


def test_trim_keeps_all_but_managed_fields():
    full = event("e")
    kept = events_mod.trim(full)
    assert "managedFields" not in kept["metadata"] and "managedFields" in full["metadata"]
    assert {k: v for k, v in kept.items() if k != "metadata"} == \
        {k: v for k, v in full.items() if k != "metadata"}


async def test_the_endpoints_own_events_go_on_leases_of_the_ttl():
    store = memory.MemoryStore()
    kinds = [events_mod.kind(k) if events_mod.is_events(k) else k for k in templates.kinds()]
    srv = api_server.APIServer(store, kapi_registry.Registry(kinds), CollectorRegistry(),
                               dict, token=TOKEN, events=Members(events_mod.Hub()),
                               event_ttl=1200)
    await templates.seed(srv.storage)
    await srv.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(base_url=srv.url) as http:
            await own(http, "web.own")
        kind = srv.storage.registry.lookup("", "v1", "events")
        kv = await store.get(srv.storage.key(kind, "default", "web.own"))
        assert kv is not None and kv.lease
        assert 1200 - 1 <= await store.time_to_live(kv.lease) <= 1200 + 60
    finally:
        await srv.stop()
        await store.close()
