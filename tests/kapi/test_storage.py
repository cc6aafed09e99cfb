"""Object semantics over both Store backends (memory and a real etcd), in process:
outcomes in the Store and in reads."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time

import pytest

from fedns import store as stores
from fedns.kapi import builtin, registry, storage, tables
from fedns.kapi.status import ApiError
from fedns.store import memory

_prefixes = itertools.count()


@pytest.fixture(params=["memory", pytest.param("etcd", marks=pytest.mark.etcd)])
async def api(request):
    if request.param == "memory":
        store = memory.MemoryStore()
    else:
        store = await stores.open_store(request.getfixturevalue("etcd").url)
    reg = builtin.registry()
    reg.add(registry.Kind("fedns.io", "v1alpha1", "ippools", "IPPool", namespaced=False,
                          status=True, printer=tables.columns(("Site", ".spec.site"))))
    s = storage.Storage(store, reg, prefix=f"/t{next(_prefixes)}-{time.monotonic_ns()}",
                        settings=storage.Settings(service_cidr="10.96.0.0/28"))
    ns = reg.lookup("", "v1", "namespaces")
    await s.create(ns, "", {"metadata": {"name": "default"}})
    yield s
    await store.close()


def kind(s: storage.Storage, plural: str, group: str = "", version: str = "v1"):
    found = s.registry.lookup(group, version, plural)
    assert found is not None
    return found


def svc(name: str, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], **spec}}


async def test_create_sets_metadata_and_rv_from_store(api):
    created = await api.create(kind(api, "services"), "default", svc("web"))
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    kv = await api.store.get(api.key(kind(api, "services"), "default", "web"))
    assert meta["resourceVersion"] == str(kv.mod_revision)
    assert b"resourceVersion" not in kv.value  # the version comes from the Store only
    assert created["spec"]["type"] == "ClusterIP"
    assert created["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}


@pytest.mark.parametrize(("namespace", "name", "code", "reason"), [
    pytest.param("default", "web", 409, "AlreadyExists", id="exists"),
    pytest.param("nowhere", "x", 404, "NotFound", id="unknown-namespace"),
    pytest.param("default", "Bad_Name", 422, "Invalid", id="bad-name"),
])
async def test_create_refusals(api, namespace, name, code, reason):
    await api.create(kind(api, "services"), "default", svc("web"))
    with pytest.raises(ApiError) as err:
        await api.create(kind(api, "services"), namespace, svc(name))
    assert (err.value.code, err.value.reason) == (code, reason)


async def test_stale_update_conflicts_and_fresh_update_bumps_generation(api):
    services = kind(api, "services")
    created = await api.create(services, "default", svc("web"))
    stale = dict(created, spec={**created["spec"], "sessionAffinity": "ClientIP"})
    fresh = await api.update(services, "default", "web", stale)
    assert fresh["metadata"]["generation"] == 2
    assert int(fresh["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    with pytest.raises(ApiError) as err:
        await api.update(services, "default", "web", stale)
    assert err.value.reason == "Conflict" and err.value.code == 409
    assert "the object has been modified" in err.value.message


@pytest.mark.parametrize("subresource", ["", "status"])
async def test_an_update_given_the_current_object_skips_the_read_and_stays_safe(
        api, subresource, monkeypatch):
    services = kind(api, "services")
    created = await api.create(services, "default", svc("web"))
    reads = []
    real_get = api.store.get

    async def counted(key, *args, **kw):
        reads.append(key)
        return await real_get(key, *args, **kw)
    monkeypatch.setattr(api.store, "get", counted)
    change = ({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}} if subresource
              else {"spec": {**created["spec"], "sessionAffinity": "ClientIP"}})
    done = await api.update(services, "default", "web", {**created, **change},
                            subresource=subresource, current=created)
    assert reads == [], "the held object stood in for the read"
    stored = await api.get(services, "default", "web")
    assert stored == done and int(done["metadata"]["resourceVersion"]) > \
        int(created["metadata"]["resourceVersion"])
    # held but stale: the Store moved on, so it is a conflict, and nothing is written
    with pytest.raises(ApiError) as err:
        await api.update(services, "default", "web", {**created, **change},
                         subresource=subresource, current=created)
    assert err.value.code == 409
    assert await api.get(services, "default", "web") == stored


async def test_noop_update_keeps_resource_version(api):
    services = kind(api, "services")
    created = await api.create(services, "default", svc("web"))
    again = await api.update(services, "default", "web", created)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_status_subresource_and_main_update_touch_only_their_part(api):
    services = kind(api, "services")
    created = await api.create(services, "default", svc("web", type="LoadBalancer"))
    ingress = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
    body = dict(created, status=ingress, spec={**created["spec"], "sessionAffinity": "ClientIP"})
    after_status = await api.update(services, "default", "web", body, subresource="status")
    assert after_status["status"] == ingress
    assert after_status["spec"]["sessionAffinity"] == "None"  # spec left alone
    body = dict(after_status, status={"loadBalancer": {}})
    body["metadata"] = dict(body["metadata"], labels={"a": "b"})
    after_main = await api.update(services, "default", "web", body)
    assert after_main["status"] == ingress  # status left alone
    assert after_main["metadata"]["labels"] == {"a": "b"}


async def test_patch_types(api):
    services = kind(api, "services")
    body = svc("web", type="LoadBalancer")
    body["spec"]["ports"][0]["name"] = "http"
    await api.create(services, "default", body)
    out = await api.patch(services, "default", "web", storage.STRATEGIC_PATCH,
                          {"spec": {"ports": [{"port": 443, "name": "https"}]}})
    assert [p["port"] for p in out["spec"]["ports"]] == [80, 443]
    out = await api.patch(services, "default", "web", storage.MERGE_PATCH,
                          {"metadata": {"labels": {"x": "y"}}})
    assert out["metadata"]["labels"] == {"x": "y"}
    out = await api.patch(services, "default", "web", storage.JSON_PATCH,
                          [{"op": "remove", "path": "/metadata/labels/x"}])
    assert out["metadata"]["labels"] == {}
    with pytest.raises(ApiError) as err:
        await api.patch(services, "default", "web", storage.MERGE_PATCH,
                        {"metadata": {"resourceVersion": "1"}, "spec": {"type": "ClusterIP"}})
    assert err.value.reason == "Conflict"


async def test_custom_kind_refuses_strategic_patch(api):
    pools = kind(api, "ippools", "fedns.io", "v1alpha1")
    await api.create(pools, "", {"metadata": {"name": "p"}, "spec": {"site": "umich"}})
    with pytest.raises(ApiError) as err:
        await api.patch(pools, "", "p", storage.STRATEGIC_PATCH, {"spec": {"site": "x"}})
    assert err.value.code == 415
    out = await api.patch(pools, "", "p", storage.MERGE_PATCH, {"spec": {"site": "msu"}})
    assert out["spec"]["site"] == "msu" and out["apiVersion"] == "fedns.io/v1alpha1"


async def test_finalizers_hold_deletion_until_removed(api):
    cms = kind(api, "configmaps")
    await api.create(cms, "default", {"metadata": {"name": "c", "finalizers": ["x/y"]}})
    marked, gone = await api.delete(cms, "default", "c")
    assert not gone and marked["metadata"]["deletionTimestamp"]
    assert (await api.get(cms, "default", "c"))["metadata"]["deletionTimestamp"]
    await api.patch(cms, "default", "c", storage.MERGE_PATCH,
                    {"metadata": {"finalizers": None}})
    with pytest.raises(ApiError) as err:
        await api.get(cms, "default", "c")
    assert err.value.code == 404


async def test_cluster_ips_unique_released_and_explicit(api):
    services = kind(api, "services")
    network = ipaddress.ip_network("10.96.0.0/28")
    ips = set()
    for i in range(14):  # a /28 has 14 usable addresses
        created = await api.create(services, "default", svc(f"s{i}"))
        ips.add(created["spec"]["clusterIP"])
    assert len(ips) == 14 and all(ipaddress.ip_address(ip) in network for ip in ips)
    with pytest.raises(ApiError):
        await api.create(services, "default", svc("full"))
    taken = (await api.get(services, "default", "s0"))["spec"]["clusterIP"]
    with pytest.raises(ApiError) as err:
        await api.create(services, "default", svc("dup", clusterIP=taken))
    assert err.value.code == 422 and "already allocated" in err.value.message
    await api.delete(services, "default", "s0")
    reused = await api.create(services, "default", svc("again", clusterIP=taken))
    assert reused["spec"]["clusterIP"] == taken
    keys = (await api.store.range(f"{api.prefix}/ranges/serviceips/".encode())).kvs
    assert len(keys) == 14


async def test_concurrent_creates_never_share_an_ip(api):
    services = kind(api, "services")
    created = await asyncio.gather(*(api.create(services, "default", svc(f"c{i}"))
                                     for i in range(10)))
    assert len({c["spec"]["clusterIP"] for c in created}) == 10


async def test_list_selectors_and_pagination(api):
    services = kind(api, "services")
    for i in range(5):
        body = svc(f"s{i}")
        body["metadata"]["labels"] = {"parity": "even" if i % 2 == 0 else "odd"}
        await api.create(services, "default", body)
    page = await api.list(services, "default", limit=2)
    names = [o["metadata"]["name"] for o in page.items]
    assert names == ["s0", "s1"] and page.continue_token and page.remaining == 3
    while page.continue_token:
        page = await api.list(services, "default", limit=2, continue_token=page.continue_token)
        names += [o["metadata"]["name"] for o in page.items]
    assert names == [f"s{i}" for i in range(5)]
    from fedns.kapi import selectors
    even = await api.list(services, "", labels=selectors.parse_labels("parity=even"))
    assert [o["metadata"]["name"] for o in even.items] == ["s0", "s2", "s4"]
    one = await api.list(services, "", fields=selectors.parse_fields("metadata.name=s3"))
    assert [o["metadata"]["name"] for o in one.items] == ["s3"]


async def test_watch_events_and_compaction(api):
    cms = kind(api, "configmaps")
    start = await api.store.revision()
    await api.create(cms, "default", {"metadata": {"name": "a"}})
    await api.patch(cms, "default", "a", storage.MERGE_PATCH, {"data": {"k": "v"}})
    await api.delete(cms, "default", "a")
    events = api.watch(cms, "default", resource_version=start)
    seen = [await asyncio.wait_for(events.__anext__(), 5) for _ in range(3)]
    await events.aclose()
    assert [e.type for e in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[2].object["data"] == {"k": "v"}
    await api.store.compact(await api.store.revision())
    with pytest.raises(ApiError) as err:
        await anext(api.watch(cms, "default", resource_version=start))
    assert (err.value.code, err.value.reason) == (410, "Expired")


async def test_delete_namespace_removes_content(api):
    namespaces, cms = kind(api, "namespaces"), kind(api, "configmaps")
    await api.create(namespaces, "", {"metadata": {"name": "tmp"}})
    await api.create(cms, "tmp", {"metadata": {"name": "c"}})
    _, gone = await api.delete(namespaces, "", "tmp")
    assert gone
    assert (await api.list(cms, "tmp")).items == []


async def test_node_ports_when_enabled_are_unique_and_kept_on_update(api):
    services = kind(api, "services")
    plain = await api.create(services, "default", svc("lb", type="LoadBalancer"))
    assert "nodePort" not in plain["spec"]["ports"][0]  # off by default
    api.settings = storage.Settings(service_cidr="10.96.0.0/28", node_port_range=(30000, 30001),
                                    allocate_node_ports=True)
    a = await api.create(services, "default", svc("a", type="NodePort"))
    b = await api.create(services, "default", svc("b", type="LoadBalancer"))
    ports = {a["spec"]["ports"][0]["nodePort"], b["spec"]["ports"][0]["nodePort"]}
    assert ports == {30000, 30001}
    with pytest.raises(ApiError):
        await api.create(services, "default", svc("c", type="NodePort"))
    body = dict(a, spec={**a["spec"], "ports": [{"port": 80}]})  # nodePort left out
    updated = await api.update(services, "default", "a", body)
    assert updated["spec"]["ports"][0]["nodePort"] == a["spec"]["ports"][0]["nodePort"]
    await api.patch(services, "default", "b", storage.MERGE_PATCH, {"spec": {"type": "ClusterIP"}})
    freed = await api.create(services, "default", svc("c", type="NodePort"))
    assert freed["spec"]["ports"][0]["nodePort"] == b["spec"]["ports"][0]["nodePort"]


async def test_server_side_apply_creates_then_merges(api):
    services = kind(api, "services")
    body = svc("applied", type="LoadBalancer")
    created, is_new = await api.apply(services, "default", "applied", body, manager="helm")
    assert is_new and created["metadata"]["managedFields"][0]["manager"] == "helm"
    again, is_new = await api.apply(services, "default", "applied", body, manager="helm")
    assert not is_new
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    labelled, _ = await api.apply(services, "default", "applied", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"labels": {"team": "a"}}},
        manager="labeller")
    assert labelled["spec"]["type"] == "LoadBalancer"  # another manager's fields stay
    assert labelled["metadata"]["labels"] == {"team": "a"}
    with pytest.raises(ApiError) as err:
        await api.apply(services, "default", "applied", {
            "apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}},
            manager="labeller")
    assert err.value.code == 409
    assert err.value.details["causes"][0]["reason"] == "FieldManagerConflict"
    with pytest.raises(ApiError) as err:
        await api.apply(services, "default", "applied", body, manager="")
    assert err.value.code == 400
