"""Wrongly typed fields are refused by name before any hook reads them: 400 for the
built-in kinds (kube-apiserver's decoder refuses them), 422 for custom kinds (as a
CRD's schema does), never a 500; ``null`` is absent, as Go decodes it."""

from __future__ import annotations

import pytest

from fedns.kapi import builtin, registry, shapes, storage, tables
from fedns.kapi.status import ApiError
from fedns.store import memory

IPPOOL = registry.Kind("fedns.io", "v1alpha1", "ippools", "IPPool", namespaced=False,
                       status=True, printer=tables.columns(("Site", ".spec.site")))
WRONG = {"boolean": True, "string": "x", "integer": 7, "array": [1], "object": {"a": 1}}


def everything() -> registry.Registry:
    reg = builtin.registry()
    reg.add(IPPOOL)
    return reg


@pytest.fixture
async def api():
    store = memory.MemoryStore()
    s = storage.Storage(store, everything())
    await s.create(s.registry.lookup("", "v1", "namespaces"), "",
                   {"metadata": {"name": "default"}})
    yield s
    await store.close()


def fields_of(kind: registry.Kind) -> list[tuple[str, str]]:
    """(field, its declared type) for the fields every kind has and its own top-level
    data fields."""
    table = {**shapes.METADATA, **shapes.SHAPES.get((kind.group, kind.kind),
                                                    shapes.SPEC_STATUS)}
    wanted = ("metadata", "spec", "status", "data", "stringData", "binaryData",
              "metadata.labels", "metadata.annotations", "metadata.finalizers",
              "metadata.name", "metadata.ownerReferences", "subsets", "endpoints",
              "addressType", "involvedObject")
    return [(field, table[field]) for field in wanted if field in table]


def set_field(obj: dict, field: str, value) -> dict:
    parent = obj
    *path, last = field.split(".")
    for part in path:
        parent = parent.setdefault(part, {})
    parent[last] = value
    return obj


CASES = [
    pytest.param(kind, field, found, id=f"{kind.kind}-{field}-{found}")
    for kind in everything().kinds()
    for field, declared in fields_of(kind)
    for found in WRONG
    if not (declared in (shapes.OBJECT, shapes.STRING_MAP) and found == "object")
    and not (declared in (shapes.ARRAY, shapes.STRINGS) and found == "array")
    and not (declared == shapes.STRING and found == "string")
]


@pytest.mark.parametrize(("kind", "field", "found"), CASES)
async def test_a_wrongly_typed_field_is_refused_by_name(api, kind, field, found):
    obj = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": "x"}}
    set_field(obj, field, WRONG[found])
    with pytest.raises(ApiError) as err:
        await api.create(kind, "default" if kind.namespaced else "", obj)
    assert err.value.code == (400 if kind.strategic else 422)
    causes = err.value.details["causes"]
    assert any(c["field"].startswith(field) for c in causes), causes
    assert field in err.value.message


@pytest.mark.parametrize(("kind", "obj", "field"), [
    ("services", {"spec": {"ports": [{"port": "80"}]}}, "spec.ports[0].port"),
    ("services", {"spec": {"ports": 80}}, "spec.ports"),
    ("services", {"spec": {"ports": [{"port": 80, "nodePort": {"a": 1}}],
                           "type": "NodePort"}}, "spec.ports[0].nodePort"),
    ("services", {"spec": {"ports": [{"port": 2 ** 40}]}}, "spec.ports[0].port"),
    ("services", {"spec": {"ports": [{"port": 80}], "clusterIPs": "10.0.0.1"}},
     "spec.clusterIPs"),
    ("services", {"status": {"loadBalancer": {"ingress": [{"ip": 5}]}}},
     "status.loadBalancer.ingress[0].ip"),
    ("deployments", {"spec": {"replicas": "3"}}, "spec.replicas"),
    ("deployments", {"spec": {"replicas": 1.5}}, "spec.replicas"),
    ("deployments", {"spec": {"template": {"spec": {"containers": [{"ports": -1}]}}}},
     "spec.template.spec.containers[0].ports"),
    ("deployments", {"spec": {"strategy": "Recreate"}}, "spec.strategy"),
    ("configmaps", {"data": {"a": 1}}, "data.a"),
    ("secrets", {"stringData": ["a"]}, "stringData"),
    ("events", {"lastTimestamp": "2024-01-01"}, "lastTimestamp"),
    ("events", {"lastTimestamp": "2024-13-01T00:00:00Z"}, "lastTimestamp"),
    ("jobs", {"status": {"startTime": 5}}, "status.startTime"),
    ("pods", {"status": {"containerStatuses": [{"restartCount": "1"}]}},
     "status.containerStatuses[0].restartCount"),
    ("endpointslices", {"addressType": "IPv4", "endpoints": [{"addresses": [1]}]},
     "endpoints[0].addresses[0]"),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_nested_fields_hooks_and_printers_read_are_checked(api, kind, obj, field):
    found = next(k for k in api.registry.kinds() if k.plural == kind)
    body = {"metadata": {"name": "x"}, **obj}
    with pytest.raises(ApiError) as err:
        await api.create(found, "default", body)
    assert err.value.code == 400
    assert [c["field"] for c in err.value.details["causes"]] == [field]


async def test_null_is_absent_as_go_decodes_it(api):
    services = api.registry.lookup("", "v1", "services")
    created = await api.create(services, "default", {
        "metadata": {"name": "web", "labels": {"a": None}, "annotations": None},
        "spec": {"ports": [{"port": 80, "nodePort": None}], "selector": None},
        "status": None})
    assert created["metadata"]["labels"] == {"a": ""}
    assert "annotations" not in created["metadata"]
    assert created["spec"]["ports"][0]["port"] == 80 and "selector" not in created["spec"]


async def test_patches_that_break_the_shape_are_refused_and_change_nothing(api):
    deployments = api.registry.lookup("apps", "v1", "deployments")
    await api.create(deployments, "default", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    before = await api.get(deployments, "default", "web")
    for patch_type, body in ((storage.MERGE_PATCH, {"spec": "x"}),
                             (storage.STRATEGIC_PATCH, {"spec": {"replicas": "2"}}),
                             (storage.JSON_PATCH, [{"op": "replace", "path": "/spec/selector",
                                                    "value": []}])):
        with pytest.raises(ApiError) as err:
            await api.patch(deployments, "default", "web", patch_type, body)
        assert err.value.code == 400
    assert await api.get(deployments, "default", "web") == before


async def test_json_patch_cannot_nest_past_the_depth_limit(api):
    maps = api.registry.lookup("", "v1", "configmaps")
    deep: object = "leaf"
    for _ in range(95):
        deep = {"k": deep}
    await api.create(maps, "default", {"metadata": {"name": "m"}, "extra": deep})
    path = "/extra" + "/k" * 94
    with pytest.raises(ApiError) as err:
        await api.patch(maps, "default", "m", storage.JSON_PATCH,
                        [{"op": "replace", "path": path, "value": deep}])
    assert err.value.code == 422 and "deeper than 100 levels" in err.value.message


async def test_json_patch_copies_are_bounded(api):
    maps = api.registry.lookup("", "v1", "configmaps")
    await api.create(maps, "default", {"metadata": {"name": "m"}, "data": {"a": "x" * 1000}})
    doubling = [{"op": "copy", "from": "/data", "path": f"/d{i}"} for i in range(3)] + \
        [{"op": "copy", "from": "", "path": f"/c{i}"} for i in range(40)]
    with pytest.raises(ApiError) as err:
        await api.patch(maps, "default", "m", storage.JSON_PATCH, doubling)
    assert err.value.code == 422 and "accumulated size increase of copy" in err.value.message


async def test_objects_larger_than_etcd_stores_are_413(api):
    maps = api.registry.lookup("", "v1", "configmaps")
    await api.create(maps, "default", {"metadata": {"name": "m"}, "data": {"a": "x" * 1_000_000}})
    with pytest.raises(ApiError) as err:
        await api.patch(maps, "default", "m", storage.MERGE_PATCH, {"data": {"b": "y" * 600_000}})
    assert err.value.code == 413 and err.value.reason == "RequestEntityTooLarge"
