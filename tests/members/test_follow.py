"""Informers for any resource, started at runtime: scope, selector, subscribers, unfollow."""

from __future__ import annotations

import pytest

from fedns.members import kinds, member, objects
from tests.members.conftest import REG
from tests.members.test_member import connect, running
from tests.support import aio

CONFIGMAPS = REG.lookup("", "v1", "configmaps")
NAMESPACES = REG.lookup("", "v1", "namespaces")
MANAGED = {objects.MANAGED_BY_LABEL: objects.MANAGED_BY}


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}


def recorder(events: list):
    return lambda source, key, obj, old: events.append(
        (source, key, None if obj is None else obj.get("data")))


async def test_a_followed_configmap_informer_sees_create_update_delete(sim):
    sims, path = sim
    storage = sims[0].server.storage
    events: list = []
    async with running(path, "umich") as m:
        inf = await m.follow(kinds.CONFIG_MAP, on_change=recorder(events))
        assert m.informers["ConfigMap"] is inf
        await aio.until(lambda: inf.synced.is_set(), 10, "the new informer listed")
        await storage.create(CONFIGMAPS, "default", configmap("conf", {"a": "1"}))
        await storage.patch(CONFIGMAPS, "default", "conf", "application/merge-patch+json",
                            {"data": {"a": "2"}})
        await storage.delete(CONFIGMAPS, "default", "conf")
        await aio.until(lambda: ("umich/ConfigMap", "default/conf", None) in events, 10,
                        "the delete")
        assert [e for e in events if e[1] == "default/conf"] == [
            ("umich/ConfigMap", "default/conf", {"a": "1"}),
            ("umich/ConfigMap", "default/conf", {"a": "2"}),
            ("umich/ConfigMap", "default/conf", None)]
        assert "default/conf" not in inf.cache
        assert "default/conf" not in m.services, "the Service cache is its own"


async def test_one_namespace_and_a_label_selector(sim):
    sims, path = sim
    storage = sims[0].server.storage
    await storage.create(NAMESPACES, "", {"metadata": {"name": "web"}})
    await storage.create(CONFIGMAPS, "web", configmap("early", {"x": "1"}, MANAGED))
    await storage.create(CONFIGMAPS, "web", configmap("early-theirs", {"x": "1"}))
    async with running(path, "umich") as m:
        inf = await m.follow(kinds.CONFIG_MAP, namespace="web",
                             label_selector=objects.MANAGED_SELECTOR)
        assert m.informers[f"ConfigMap ns=web selector={objects.MANAGED_SELECTOR}"] is inf
        assert inf.path == "/api/v1/namespaces/web/configmaps"
        await aio.until(lambda: inf.synced.is_set(), 10, "listed")
        assert list(inf.cache) == ["web/early"]
        await storage.create(CONFIGMAPS, "web", configmap("mine", {"a": "1"}, MANAGED))
        await storage.create(CONFIGMAPS, "web", configmap("theirs", {"a": "1"}))
        await storage.create(CONFIGMAPS, "default", configmap("elsewhere", {"a": "1"}, MANAGED))
        await aio.until(lambda: "web/mine" in inf.cache, 10, "the managed one")
        # an object whose labels stop matching leaves the cache
        await storage.patch(CONFIGMAPS, "web", "early", "application/merge-patch+json",
                            {"metadata": {"labels": {objects.MANAGED_BY_LABEL: None}}})
        await aio.until(lambda: "web/early" not in inf.cache, 10, "unlabelled one gone")
        assert sorted(inf.cache) == ["web/mine"]


async def test_following_again_adds_a_subscriber_and_replays_the_cache(sim):
    sims, path = sim
    storage = sims[0].server.storage
    await storage.create(CONFIGMAPS, "default", configmap("before", {"a": "1"}))
    first: list = []
    second: list = []
    async with running(path, "umich") as m:
        inf = await m.follow(kinds.CONFIG_MAP, on_change=recorder(first))
        await aio.until(lambda: inf.synced.is_set(), 10, "listed")
        handler = recorder(second)
        assert await m.follow(kinds.CONFIG_MAP, on_change=handler) is inf
        assert await m.follow(kinds.CONFIG_MAP, on_change=handler) is inf  # once only
        assert ("umich/ConfigMap", "default/before", {"a": "1"}) in second
        replayed = len(second)
        assert replayed == len(inf.cache)
        await storage.create(CONFIGMAPS, "default", configmap("after", {"b": "2"}))
        await aio.until(lambda: len(second) > replayed, 10, "the next change")
        assert second[replayed:] == [("umich/ConfigMap", "default/after", {"b": "2"})]
        await aio.until(lambda: first[-1] == second[-1], 10, "both subscribers told")


async def test_follow_before_start_and_the_members_own_on_change(sim):
    sims, path = sim
    events: list = []
    m = connect(path, "umich", events)  # records (source, key, deleted)
    inf = await m.follow(kinds.CONFIG_MAP)  # no handler: the member's on_change
    assert not inf.synced.is_set()
    await m.start()
    try:
        await sims[0].server.storage.create(CONFIGMAPS, "default", configmap("c", {}))
        await aio.until(lambda: ("umich/ConfigMap", "default/c", False) in events, 10,
                        "the member's on_change")
        assert inf.synced.is_set()
    finally:
        await m.stop()


async def test_unfollow_stops_only_what_follow_added(sim):
    _sims, path = sim
    async with running(path, "umich") as m:
        inf = await m.follow(kinds.CONFIG_MAP, namespace="default")
        await aio.until(lambda: inf.synced.is_set(), 10, "listed")
        runs = len(m._tasks)
        await m.unfollow(kinds.CONFIG_MAP, namespace="default")
        assert "ConfigMap ns=default" not in m.informers
        assert len(m._tasks) == runs - 1
        await m.unfollow(kinds.SERVICE)  # always watched: stays
        await m.unfollow(kinds.SECRET)  # never followed: nothing to do
        assert set(m.informers) == set(member.KINDS)
        assert not any(task.done() for task in m._tasks)


@pytest.mark.parametrize("call,error,message", [
    pytest.param(lambda m: m.follow(kinds.Resource("example.com", "v1", "services", "Service")),
                 member.AlreadyFollowed, "member 'umich': informer 'Service' already follows "
                 "v1 services, not example.com/v1 services", id="same-name-other-group"),
    pytest.param(lambda m: m.follow(kinds.NODE, namespace="default"), ValueError,
                 "Node is not namespaced", id="namespace-for-a-cluster-scoped-kind"),
])
async def test_follow_refusals_are_one_line(sim, call, error, message):
    _sims, path = sim
    m = connect(path, "umich")
    with pytest.raises(error) as caught:
        await call(m)
    assert str(caught.value).startswith(message)
    assert set(m.informers) == set(member.KINDS)


async def test_a_followed_kind_that_cannot_be_listed_holds_up_nothing_else(sim):
    _sims, path = sim
    async with running(path, "umich") as m:
        inf = await m.follow(kinds.Resource("example.com", "v1", "widgets", "Widget"))
        await aio.until(lambda: inf.failures >= 2, 10, "failed lists")
        assert inf.last_error.startswith("HTTP 404")
        await aio.until(m.synced, 10, "the four watched kinds synced regardless")
        assert not inf.synced.is_set()
