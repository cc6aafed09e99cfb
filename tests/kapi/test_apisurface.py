"""Over real sockets: fieldValidation, the scale subresource (also through the Python
client's ``*_scale`` calls), the review kinds, Pod log/exec, and CustomResourceDefinitions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import kubernetes
import pytest

from fedns import kapi
from fedns.kapi import builtin, fieldvalidation
from fedns.kapi import registry as kapi_registry
from fedns.store import memory

DEPLOY: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{
                 "name": "v1", "served": True, "storage": True,
                 "subresources": {"status": {}, "scale": {
                     "specReplicasPath": ".spec.replicas",
                     "statusReplicasPath": ".status.replicas"}},
                 "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                               "jsonPath": ".spec.size"}],
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "properties": {
                         "size": {"type": "integer"}, "replicas": {"type": "integer"},
                         "extra": {"type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True}}},
                     "status": {"type": "object",
                                "properties": {"replicas": {"type": "integer"}}}}}}}]}}


@pytest.fixture
async def server():
    store = memory.MemoryStore()
    srv = kapi.Server(store, builtin.registry())
    await srv.start("127.0.0.1", 0)
    await srv.storage.create(srv.registry.lookup("", "v1", "namespaces"), "",
                             {"metadata": {"name": "default"}})
    yield srv
    await srv.stop()
    await store.close()


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               content_type: str = "application/json") -> tuple[int, Any, list[str]]:
    data = None if body is None else json.dumps(body)
    async with http.request(method, path, data=data,
                            headers={"Content-Type": content_type}) as response:
        text = await response.text()
        return (response.status, json.loads(text) if text else None,
                response.headers.getall("Warning", []))


# -- fieldValidation ------------------------------------------------------------

BOGUS = {**DEPLOY, "spec": {"bogus": 1, **DEPLOY["spec"],
                            "template": {**DEPLOY["spec"]["template"], "spec": {
                                "containers": [{"name": "c", "image": "nginx", "imagee": "x"}]}}}}


@pytest.mark.parametrize(("query", "code", "warnings"), [
    pytest.param("?fieldValidation=Strict", 400, [], id="strict"),
    pytest.param("?fieldValidation=Warn", 201,
                 ['299 - "unknown field \\"spec.bogus\\""',
                  '299 - "unknown field \\"spec.template.spec.containers[0].imagee\\""'],
                 id="warn"),
    pytest.param("", 201, ['299 - "unknown field \\"spec.bogus\\""',
                           '299 - "unknown field \\"spec.template.spec.containers[0].imagee\\""'],
                 id="default-is-warn"),
    pytest.param("?fieldValidation=Ignore", 201, [], id="ignore"),
])
async def test_create_with_unknown_fields(http, query, code, warnings):
    status, body, headers = await call(http, "POST", DEPLOYMENTS + query, BOGUS)
    assert status == code
    assert headers == warnings
    if code == 400:
        assert body["message"] == (
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
            'error: unknown field "spec.bogus", unknown field '
            '"spec.template.spec.containers[0].imagee"')
        return
    _, stored, _ = await call(http, "GET", DEPLOYMENTS + "/web")
    assert "bogus" not in stored["spec"]  # never stored, whatever the directive
    assert "imagee" not in stored["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(("content_type", "body", "code", "reason"), [
    pytest.param("application/merge-patch+json", {"spec": {"bogus": 1}}, 422, "Invalid",
                 id="merge-strict"),
    pytest.param("application/strategic-merge-patch+json", {"spec": {"bogus": 1}}, 422,
                 "Invalid", id="strategic-strict"),
    pytest.param("application/apply-patch+yaml",
                 {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"bogus": 1}}, 500,
                 "", id="apply-typed"),
])
async def test_patch_with_unknown_fields(http, content_type, body, code, reason):
    await call(http, "POST", DEPLOYMENTS, DEPLOY)
    query = "?fieldValidation=Strict&fieldManager=me"
    status, answer, _ = await call(http, "PATCH", f"{DEPLOYMENTS}/web{query}", body,
                                   content_type)
    assert (status, answer["reason"]) == (code, reason)
    assert ("spec.bogus" in answer["message"]) or (".spec.bogus: field not declared in schema"
                                                   in answer["message"])


async def test_bad_directive_is_refused(http):
    status, body, _ = await call(http, "POST", DEPLOYMENTS + "?fieldValidation=Loud", DEPLOY)
    assert status == 400 and "Loud" in body["message"]


def test_in_process_writes_are_not_walked():
    assert fieldvalidation.DIRECTIVE.get() is None


# -- scale -------------------------------------------------------------------------

async def test_scale_get_put_patch(http):
    await call(http, "POST", DEPLOYMENTS, DEPLOY)
    status, scale, _ = await call(http, "GET", DEPLOYMENTS + "/web/scale")
    assert status == 200
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}
    status, scale, _ = await call(http, "PATCH", DEPLOYMENTS + "/web/scale",
                                  {"spec": {"replicas": 5}}, "application/merge-patch+json")
    assert (status, scale["spec"]["replicas"]) == (200, 5)
    stale = {**scale, "metadata": {**scale["metadata"], "resourceVersion": "1"},
             "spec": {"replicas": 1}}
    status, _, _ = await call(http, "PUT", DEPLOYMENTS + "/web/scale", stale)
    assert status == 409
    status, _, _ = await call(http, "PUT", DEPLOYMENTS + "/web/scale",
                              {**scale, "spec": {"replicas": -1}})
    assert status == 422
    _, deployment, _ = await call(http, "GET", DEPLOYMENTS + "/web")
    assert deployment["spec"]["replicas"] == 5


def _python_client_scale(url: str) -> list[Any]:
    config = kubernetes.client.Configuration()
    config.host = url
    apps = kubernetes.client.AppsV1Api(kubernetes.client.ApiClient(config))
    seen: list[Any] = [apps.read_namespaced_deployment_scale("web", "default").to_dict()]
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    seen.append(apps.read_namespaced_deployment_scale("web", "default").to_dict())
    body = apps.read_namespaced_deployment_scale("web", "default")
    body.spec = kubernetes.client.V1ScaleSpec(replicas=0)
    seen.append(apps.replace_namespaced_deployment_scale("web", "default", body).to_dict())
    seen.append(apps.read_namespaced_deployment("web", "default").to_dict())
    seen = [item["spec"]["replicas"] for item in seen]
    return seen


async def test_python_client_scale_calls(server, http):
    await call(http, "POST", DEPLOYMENTS, DEPLOY)
    assert await asyncio.to_thread(_python_client_scale, server.url) == [2, 3, 0, 0]


# -- reviews and pod streams ----------------------------------------------------------

@pytest.mark.parametrize(("path", "field"), [
    ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "allowed"),
    ("/apis/authentication.k8s.io/v1/selfsubjectreviews", "userInfo"),
])
async def test_reviews_are_created_not_stored(http, path, field):
    status, body, _ = await call(http, "POST", path, {"spec": {}})
    assert status == 201 and body["status"][field]
    status, _, _ = await call(http, "GET", path)
    assert status == 405


@pytest.mark.parametrize(("method", "sub", "pod", "code"), [
    ("GET", "log", "p", 400), ("POST", "exec", "p", 400), ("GET", "log", "missing", 404),
])
async def test_pod_streams_say_there_are_no_containers(http, method, sub, pod, code):
    await call(http, "POST", "/api/v1/namespaces/default/pods",
               {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c",
                                                                    "image": "x"}]}})
    async with http.request(method, f"/api/v1/namespaces/default/pods/{pod}/{sub}") as response:
        body = json.loads(await response.text())
    assert response.status == code
    if code == 400:
        assert "runs no containers" in body["message"]


# -- CRDs --------------------------------------------------------------------------------

async def test_crd_serves_its_kind_until_deleted(server, http):
    status, crd, warnings = await call(
        http, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    assert (status, warnings) == (201, [])  # the CRD itself is valid against kube's schema
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "True", "Established": "True"}
    async with http.get("/apis", headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    }) as response:
        groups = {g["metadata"]["name"]: g for g in json.loads(await response.text())["items"]}
    (resource,) = groups["example.com"]["versions"][0]["resources"]
    assert resource["shortNames"] == ["wd"]
    assert [s["subresource"] for s in resource["subresources"]] == ["status", "scale"]

    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
              "spec": {"size": 3, "replicas": 1, "bogus": 1, "extra": {"free": {"x": 1}}}}
    status, _, warnings = await call(http, "POST", WIDGETS, widget)
    assert status == 201 and warnings == ['299 - "unknown field \\"spec.bogus\\""']
    _, stored, _ = await call(http, "GET", WIDGETS + "/w1")
    assert stored["spec"] == {"size": 3, "replicas": 1, "extra": {"free": {"x": 1}}}
    async with http.get(WIDGETS, headers={"Accept": "application/json;as=Table;v=v1;"
                                                    "g=meta.k8s.io"}) as response:
        table = json.loads(await response.text())
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size"]
    assert table["rows"][0]["cells"] == ["w1", 3]
    status, scale, _ = await call(http, "PATCH", WIDGETS + "/w1/scale",
                                  {"spec": {"replicas": 4}}, "application/merge-patch+json")
    assert scale["spec"]["replicas"] == 4
    status, _, _ = await call(http, "PATCH", WIDGETS + "/w1", {"spec": {"size": 1}},
                              "application/strategic-merge-patch+json")
    assert status == 415  # custom kinds take no strategic merge patch, as in kube

    status, _, _ = await call(
        http, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                        "widgets.example.com")
    assert status == 200
    status, _, _ = await call(http, "GET", WIDGETS)
    assert status == 404
    assert await server.storage.store.range(b"/registry/example.com/") is not None
    assert (await server.storage.store.range(b"/registry/example.com/")).kvs == []


async def test_a_new_server_serves_the_stored_crds(server):
    crd_kind = server.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    await server.storage.create(crd_kind, "", CRD)
    again = kapi.Server(server.storage.store, builtin.registry())
    await again.start("127.0.0.1", 0)
    try:
        assert again.registry.lookup("example.com", "v1", "widgets") is not None
    finally:
        await again.stop()


@pytest.mark.parametrize(("change", "field"), [
    pytest.param({"metadata": {"name": "wrong.example.com"}}, "metadata.name", id="name"),
    pytest.param({"spec": {**CRD["spec"], "versions": []}}, "spec.versions", id="no-version"),
])
async def test_crd_validation(http, change, field):
    status, body, _ = await call(http, "POST",
                                 "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                 {**CRD, **change})
    assert status == 422
    assert field in [c["field"] for c in body["details"]["causes"]]


def test_registries_of_the_same_kinds_share_their_documents():
    from fedns.kapi import openapi

    one, two = openapi.Documents(builtin.registry()), openapi.Documents(builtin.registry())
    first, second = one.v3("apis/apps/v1"), two.v3("apis/apps/v1")
    assert first is not None and second is not None
    assert first[0] is second[0]  # one copy in memory
    other = builtin.registry()
    other.add(kapi_registry.Kind("apps", "v1", "gadgets", "Gadget"))
    third = openapi.Documents(other).v3("apis/apps/v1")
    assert third is not None and third[1] != first[1]
