"""The HTTP surface over real sockets: discovery, OpenAPI, auth, Table, watch, and the
official ``kubernetes`` Python client."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import kubernetes
import pytest

from fedns import kapi
from fedns.kapi import builtin, discovery, registry, tables
from fedns.kapi import server as server_module
from fedns.store import memory

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")


@pytest.fixture
async def server():
    store = memory.MemoryStore()
    reg = builtin.registry()
    reg.add(registry.Kind("fedns.io", "v1alpha1", "ippools", "IPPool", namespaced=False,
                          short_names=("ipp",), status=True,
                          printer=tables.columns(("Site", ".spec.site"))))
    srv = kapi.Server(store, reg, bookmark_interval=0.2)
    await srv.start("127.0.0.1", 0)
    await srv.storage.create(reg.lookup("", "v1", "namespaces"), "",
                             {"metadata": {"name": "default"}})
    yield srv
    await srv.stop()
    await store.close()


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


async def _json(response: aiohttp.ClientResponse):
    return json.loads(await response.read())


SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}


@pytest.mark.parametrize(("path", "names"), [
    pytest.param("/api", [""], id="core"),
    pytest.param("/apis", ["apps", "batch", "autoscaling", "networking.k8s.io",
                           "discovery.k8s.io", "storage.k8s.io", "rbac.authorization.k8s.io",
                           "policy", "apiextensions.k8s.io", "authorization.k8s.io",
                           "authentication.k8s.io", "fedns.io"], id="groups"),
])
async def test_aggregated_discovery(http, path, names):
    async with http.get(path, headers={"Accept": AGGREGATED}) as response:
        assert response.headers["Content-Type"] == discovery.AGGREGATED_V2
        body = await _json(response)
    assert [i["metadata"]["name"] for i in body["items"]] == names
    for item in body["items"]:
        for version in item["versions"]:
            for resource in version["resources"]:
                assert resource["responseKind"]["kind"]
                for sub in resource.get("subresources", []):
                    assert sub["responseKind"]["kind"]


async def test_legacy_discovery_and_version(http):
    async with http.get("/api", headers={"Accept": "application/json"}) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert (await _json(response))["versions"] == ["v1"]
    async with http.get("/apis/apps/v1") as response:
        resources = {r["name"]: r for r in (await _json(response))["resources"]}
    assert resources["deployments"]["shortNames"] == ["deploy"]
    assert "deployments/status" in resources
    async with http.get("/api/v1") as response:
        resources = {r["name"]: r for r in (await _json(response))["resources"]}
    assert resources["services"]["shortNames"] == ["svc"]
    assert resources["nodes"]["namespaced"] is False
    async with http.get("/version") as response:
        assert (await _json(response))["gitVersion"] == "v1.37.0+fedns"


async def test_openapi_v3_has_what_kubectl_apply_checks(http):
    async with http.get("/openapi/v3") as response:
        root = await _json(response)
    assert set(root["paths"]) >= {"api/v1", "apis/apps/v1", "apis/fedns.io/v1alpha1"}
    url = root["paths"]["api/v1"]["serverRelativeURL"]
    async with http.get(url) as response:
        assert "immutable" in response.headers["Cache-Control"]
        doc = await _json(response)
    op = doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1",
                                                     "kind": "Service"}
    assert "fieldValidation" in [p["name"] for p in op["parameters"]]
    assert "application/strategic-merge-patch+json" not in op["requestBody"]["content"]
    schemas = doc["components"]["schemas"]
    schema = schemas["io.k8s.api.core.v1.Service"]
    assert schema["x-kubernetes-group-version-kind"] == [op["x-kubernetes-group-version-kind"]]
    # the real schema: explain walks spec -> ServiceSpec -> ports -> ServicePort.port
    spec_ref = schema["properties"]["spec"]["allOf"][0]["$ref"].rsplit("/", 1)[1]
    ports = schemas[spec_ref]["properties"]["ports"]
    port_ref = ports["items"]["allOf"][0]["$ref"] if "allOf" in ports["items"] \
        else ports["items"]["$ref"]
    assert schemas[port_ref.rsplit("/", 1)[1]]["properties"]["port"]["type"] == "integer"


@pytest.mark.parametrize(("accept", "code"), [
    pytest.param("application/json", 200, id="json"),
    pytest.param("", 200, id="no-accept"),
    pytest.param("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 406,
                 id="protobuf-only"),
])
async def test_openapi_v2_is_json(http, accept, code):
    async with http.get("/openapi/v2", headers={"Accept": accept} if accept else {}) as response:
        assert response.status == code
        body = await _json(response)
    if code == 200:
        assert body["swagger"] == "2.0"
        deployment = body["definitions"]["io.k8s.api.apps.v1.Deployment"]
        assert deployment["properties"]["spec"]["$ref"] == \
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        patch = body["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    else:
        assert body["reason"] == "NotAcceptable"


async def test_token_required_except_health(server):
    server.token = "s3cret"
    async with aiohttp.ClientSession(base_url=server.url) as http:
        async with http.get("/api/v1/namespaces") as response:
            assert response.status == 401
            assert await _json(response) == {
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        async with http.get("/readyz") as response:
            assert response.status == 200 and await response.text() == "ok"
        async with http.get("/api/v1/namespaces",
                            headers={"Authorization": "Bearer s3cret"}) as response:
            assert response.status == 200


async def test_errors_are_status_objects(http):
    async with http.get("/api/v1/namespaces/default/services/nope") as response:
        body = await _json(response)
    assert response.status == 404
    assert body["reason"] == "NotFound" and body["message"] == 'services "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "services"}
    async with http.post("/apis/apps/v1/namespaces/missing/deployments", json={
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}}}) as response:
        body = await _json(response)
    assert response.status == 404 and body["message"] == 'namespaces "missing" not found'
    async with http.get("/apis/nothing/v1/things") as response:
        assert response.status == 404


async def test_table_for_services_and_custom_kind(http):
    async with http.post("/api/v1/namespaces/default/services", json=SVC) as response:
        assert response.status == 201
    async with http.get("/api/v1/namespaces/default/services",
                        headers={"Accept": TABLE}) as response:
        table = await _json(response)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    cells = table["rows"][0]["cells"]
    assert cells[:2] == ["web", "LoadBalancer"] and cells[3] == "<pending>"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["metadata"]["resourceVersion"]
    async with http.post("/apis/fedns.io/v1alpha1/ippools", json={
            "apiVersion": "fedns.io/v1alpha1", "kind": "IPPool", "metadata": {"name": "p"},
            "spec": {"site": "umich"}}) as response:
        assert response.status == 201
    async with http.get("/apis/fedns.io/v1alpha1/ippools/p?includeObject=Object",
                        headers={"Accept": TABLE}) as response:
        table = await _json(response)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Site", "Age"]
    assert table["rows"][0]["cells"][:2] == ["p", "umich"]
    assert table["rows"][0]["object"]["spec"] == {"site": "umich"}


async def _events(response: aiohttp.ClientResponse, count: int, timeout: float = 5):
    events = []
    for _ in range(count):
        line = await asyncio.wait_for(response.content.readline(), timeout)
        events.append(json.loads(line))
    return events


async def test_watch_list_initial_events_bookmark_then_live(http):
    async with http.post("/api/v1/namespaces/default/services", json=SVC) as response:
        assert response.status == 201
    async with http.get("/api/v1/namespaces/default/services?watch=true&sendInitialEvents=true"
                        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
                        "&fieldSelector=metadata.name%3Dweb") as watch:
        added, bookmark = await _events(watch, 2)
        assert added["type"] == "ADDED" and added["object"]["metadata"]["name"] == "web"
        assert bookmark["type"] == "BOOKMARK"
        assert bookmark["object"]["metadata"]["annotations"] == {
            "k8s.io/initial-events-end": "true"}
        async with http.patch("/api/v1/namespaces/default/services/web",
                              json={"metadata": {"labels": {"a": "b"}}},
                              headers={"Content-Type": "application/merge-patch+json"}):
            pass
        # periodic bookmarks may come first (interval 0.2 s); skip them
        while True:
            (event,) = await _events(watch, 1)
            if event["type"] != "BOOKMARK":
                break
        assert event["type"] == "MODIFIED"
        assert event["object"]["metadata"]["labels"] == {"a": "b"}


async def test_watch_timeout_and_table_events(http):
    async with http.get("/api/v1/namespaces/default/services?watch=true&resourceVersion=0"
                        "&timeoutSeconds=1", headers={"Accept": TABLE}) as watch:
        async with http.post("/api/v1/namespaces/default/services", json=SVC):
            pass
        (event,) = await _events(watch, 1)
        assert event["type"] == "ADDED" and event["object"]["kind"] == "Table"
        assert event["object"]["rows"][0]["cells"][0] == "web"
        assert await asyncio.wait_for(watch.content.read(), 5) == b""  # closed by timeout


async def test_watch_from_compacted_version_gets_410_event(server, http):
    async with http.post("/api/v1/namespaces/default/services", json=SVC) as response:
        first = (await _json(response))["metadata"]["resourceVersion"]
    for _ in range(2):
        async with http.patch("/api/v1/namespaces/default/services/web",
                              json={"metadata": {"labels": {"n": str(_)}}},
                              headers={"Content-Type": "application/merge-patch+json"}):
            pass
    await server.storage.store.compact(await server.storage.store.revision())
    async with http.get(f"/api/v1/namespaces/default/services?watch=true"
                        f"&resourceVersion={first}") as watch:
        assert watch.status == 200
        (event,) = await _events(watch, 1)
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


@pytest.mark.parametrize("backlog", [1, 3, server_module.WATCH_BACKLOG])
async def test_watch_burst_arrives_whole_and_in_order(server, http, monkeypatch, backlog):
    # a burst committed without a pause is written in few chunks; a small backlog makes
    # the reader wait for the writer again and again
    monkeypatch.setattr(server_module, "WATCH_BACKLOG", backlog)
    cms = server.registry.lookup("", "v1", "configmaps")
    start = await server.storage.store.revision()
    async with http.get(f"/api/v1/configmaps?watch=true&resourceVersion={start}") as watch:
        for i in range(40):
            await server.storage.create(cms, "default", {"metadata": {"name": f"c{i:02d}"},
                                                         "data": {"i": str(i)}})
        await server.storage.patch(cms, "default", "c00", "application/merge-patch+json",
                                   {"data": {"i": "again"}})
        events = await _events(watch, 41)
    listed = {o["metadata"]["name"]: o for o in (await server.storage.list(cms, "")).items}
    assert [e["type"] for e in events] == ["ADDED"] * 40 + ["MODIFIED"]
    assert [e["object"] for e in events[1:40]] == [listed[f"c{i:02d}"] for i in range(1, 40)]
    assert events[40]["object"] == listed["c00"]


def _client(url: str) -> kubernetes.client.CoreV1Api:
    config = kubernetes.client.Configuration()
    config.host = url
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))


def _python_client_round_trip(url: str) -> tuple[list[str], list[tuple[str, str]], int]:
    core = _client(url)
    body = kubernetes.client.V1Service(
        metadata=kubernetes.client.V1ObjectMeta(name="py"),
        spec=kubernetes.client.V1ServiceSpec(
            type="LoadBalancer", ports=[kubernetes.client.V1ServicePort(port=53,
                                                                        protocol="UDP")]))
    created = core.create_namespaced_service("default", body)
    listed = core.list_namespaced_service("default")
    names = [s.metadata.name for s in listed.items]
    watch = kubernetes.watch.Watch()
    seen = []
    stream = watch.stream(core.list_namespaced_service, "default",
                          resource_version=created.metadata.resource_version,
                          timeout_seconds=5)
    core.patch_namespaced_service("py", "default", {"metadata": {"labels": {"x": "y"}}})
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        watch.stop()
    core.delete_namespaced_service("py", "default")
    return names, seen, int(listed.metadata.resource_version)


async def test_kubernetes_client_create_list_watch(server):
    names, seen, _ = await asyncio.to_thread(_python_client_round_trip, server.url)
    assert names == ["py"]
    assert seen == [("MODIFIED", "py")]


def _watch_from(url: str, resource_version: str) -> int:
    core = _client(url)
    try:
        for _ in kubernetes.watch.Watch().stream(core.list_namespaced_service, "default",
                                                 resource_version=resource_version,
                                                 timeout_seconds=5):
            pass
    except kubernetes.client.ApiException as err:
        return int(err.status)
    return 0


async def test_kubernetes_client_watch_from_compacted_version_gets_410(server):
    _, _, revision = await asyncio.to_thread(_python_client_round_trip, server.url)
    await server.storage.store.compact(await server.storage.store.revision())
    assert await asyncio.to_thread(_watch_from, server.url, str(revision)) == 410


async def test_watch_ends_when_the_client_goes_away(server):
    store = server.storage.store
    loop = asyncio.get_running_loop()

    # the server's own watch (it follows the CRDs) stays; count the others
    deadline = loop.time() + 5
    while not store._watchers and loop.time() < deadline:
        await asyncio.sleep(0.01)
    own = len(store._watchers)

    async def watchers(wanted: int) -> int:
        deadline = loop.time() + 5
        while len(store._watchers) - own != wanted and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return len(store._watchers) - own

    for _ in range(3):
        async with aiohttp.ClientSession() as session, \
                session.get(server.url + "/api/v1/services?watch=true") as watch:
            assert watch.status == 200
            assert await watchers(1) == 1
        assert await watchers(0) == 0
