"""What kapi remembers to save work is never seen: spliced JSON equals encoding the
object, encoded watch events equal the decoded ones, and every remembered value
(written bytes, a namespace's Terminating state, parsed settings, group versions)
follows the thing it remembers when that changes."""

from __future__ import annotations

import asyncio
import copy
import datetime
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedns.kapi import builtin, objects, registry, selectors, storage
from fedns.kapi.status import ApiError
from fedns.store import memory

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12)
json_objects = st.dictionaries(st.sampled_from(["apiVersion", "kind", "spec", "status", "x"]),
                               json_values, max_size=4)
metadata = st.dictionaries(st.sampled_from(["name", "labels", "resourceVersion", "selfLink",
                                            "uid", "é"]), json_values, max_size=4)


@given(json_objects, metadata, st.integers(0, 4), st.integers(1, 10**12))
def test_encode_is_to_json_and_with_version_is_dumps_of_from_json(body, meta, at, revision):
    items = list(body.items())
    obj = dict(items[:at] + [("metadata", meta)] + items[at:])
    stored = objects.to_json(obj)
    data, meta_end = objects.encode(obj)
    assert data == stored == json.dumps(
        dict(obj, metadata={k: v for k, v in meta.items()
                            if k not in ("resourceVersion", "selfLink")}),
        separators=(",", ":")).encode()
    assert objects.with_version(data, meta_end, revision) == \
        objects.dumps(objects.from_json(data, revision))


@pytest.mark.parametrize("obj", [
    pytest.param({"kind": "X"}, id="no-metadata"),
    pytest.param({"metadata": None, "spec": 1}, id="null-metadata"),
    pytest.param({"metadata": {}}, id="empty-metadata"),
])
def test_encode_of_objects_without_usable_metadata(obj):
    data, meta_end = objects.encode(obj)
    assert data == objects.to_json(obj)
    assert objects.with_version(data, meta_end, 7) == objects.dumps(objects.from_json(data, 7))


@given(json_values)
def test_clone_is_an_equal_unshared_copy(value):
    copied = objects.clone(value)
    assert copied == value
    if isinstance(value, dict | list) and value:
        assert copied is not value


def test_timestamp_is_the_current_second_in_utc():
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    text = objects.timestamp()
    after = datetime.datetime.now(datetime.UTC)
    parsed = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.UTC)
    assert before <= parsed <= after
    when = datetime.datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.UTC)
    assert objects.timestamp(when) == "2020-02-29T23:59:59Z"


def test_settings_network_follows_the_cidr():
    small, other = storage.Settings("10.96.0.0/28"), storage.Settings("fd00::1/120")
    assert small.network() is small.network()  # parsed once
    assert str(small.network()) == "10.96.0.0/28"
    assert str(other.network()) == "fd00::/120"  # strict=False, as before
    assert str(storage.Settings("10.96.0.0/28").network()) == "10.96.0.0/28"


def test_group_versions_follow_added_kinds():
    reg = builtin.registry()
    before = reg.group_versions()
    assert ("example.com", "v1") not in before
    before.append(("mutated", "v0"))  # the caller's copy
    reg.add(registry.Kind("example.com", "v1", "widgets", "Widget"))
    assert reg.group_versions()[-1] == ("example.com", "v1")
    assert ("mutated", "v0") not in reg.group_versions()


@pytest.fixture
async def api():
    store = memory.MemoryStore()
    s = storage.Storage(store, builtin.registry())
    await s.create(kind(s, "namespaces"), "", {"metadata": {"name": "default"}})
    yield s
    await store.close()


def kind(s: storage.Storage, plural: str, group: str = "") -> registry.Kind:
    found = s.registry.lookup(group, "v1", plural)
    assert found is not None
    return found


async def test_served_json_is_dumps_of_what_writes_return(api):
    services, slices = kind(api, "services"), kind(api, "endpointslices", "discovery.k8s.io")
    results = [
        await api.create(services, "default", {"metadata": {"name": "web"},
                                               "spec": {"ports": [{"port": 80}]}}),
        await api.patch(services, "default", "web", storage.MERGE_PATCH,
                        {"status": {"loadBalancer": {"ingress": [{"ip": "10.1.0.1"}]}}},
                        subresource="status"),
        # a new metadata key lands after resourceVersion: not the stored order
        await api.patch(services, "default", "web", storage.MERGE_PATCH,
                        {"metadata": {"annotations": {"a": "b"}}}),
        await api.patch(services, "default", "web", storage.MERGE_PATCH,
                        {"metadata": {"selfLink": "/x"}, "spec": {"type": "NodePort"}}),
        await api.patch(services, "default", "web", storage.MERGE_PATCH, {"spec": {}}),  # no-op
        await api.create(slices, "default", {"metadata": {"name": "web-x"},
                                             "addressType": "IPv4", "endpoints": []}),
        await api.create(services, "default", {"metadata": {"name": "dry"},
                                               "spec": {"ports": [{"port": 1}]}},
                         dry_run=True),
        (await api.delete(services, "default", "web"))[0],
    ]
    for obj in results:
        assert api.served_json(obj) == objects.dumps(obj)
        assert api.served_json(obj) == objects.dumps(obj)  # asked again
        assert api.served_json(copy.deepcopy(obj)) == objects.dumps(obj)  # not remembered


async def _until(events, revision, got):
    while not got or got[-1].revision < revision:
        got.append(await asyncio.wait_for(anext(events), 5))
    return got


@pytest.mark.parametrize(("labels", "fields"), [
    pytest.param("", "", id="everything"),
    pytest.param("a=b", "", id="labels"),
    pytest.param("", "metadata.name=c1", id="fields"),
])
async def test_encoded_watch_events_are_the_decoded_events_encoded(api, labels, fields):
    cms = kind(api, "configmaps")
    label_sel, field_sel = selectors.parse_labels(labels), selectors.parse_fields(fields)
    await api.create(cms, "default", {"metadata": {"name": "c0", "labels": {"a": "b"}}})
    plain = api.watch(cms, "", labels=label_sel, fields=field_sel, initial=True)
    encoded = api.watch(cms, "", labels=label_sel, fields=field_sel, initial=True,
                        encoded=True)
    got_plain = [await anext(plain)]  # the watches are open from here on
    got_encoded = [await anext(encoded)]
    await api.create(cms, "default", {"metadata": {"name": "c1", "labels": {"a": "b"}}})
    await api.patch(cms, "default", "c1", storage.MERGE_PATCH, {"data": {"k": "v"}})
    await api.patch(cms, "default", "c1", storage.MERGE_PATCH, {"metadata": {"labels": None}})
    await api.patch(cms, "default", "c1", storage.MERGE_PATCH, {"metadata": {"labels":
                                                                             {"a": "b"}}})
    # a value this Storage did not write (another API server on the same Store)
    key = api.key(cms, "default", "c1")
    foreign = json.loads((await api.store.get(key)).value)
    foreign["data"] = {"k": "other"}
    await api.store.put(key, json.dumps(foreign).encode())
    await api.delete(cms, "default", "c1")
    await api.delete(cms, "default", "c0")
    last = await api.store.revision()
    await _until(plain, last, got_plain)
    await _until(encoded, last, got_encoded)
    await plain.aclose()
    await encoded.aclose()
    assert [(e.type, e.revision) for e in got_encoded] == \
        [(e.type, e.revision) for e in got_plain]
    for p, e in zip(got_plain, got_encoded, strict=True):
        if p.type in ("ADDED", "MODIFIED", "DELETED"):
            assert e.data == objects.dumps(p.object)
        else:
            assert e.data is None
    assert any(e.type == "DELETED" for e in got_plain)


async def test_a_terminating_namespace_is_seen_after_it_was_open(api):
    namespaces, cms = kind(api, "namespaces"), kind(api, "configmaps")
    await api.create(namespaces, "", {"metadata": {"name": "t"}})
    await api.create(cms, "t", {"metadata": {"name": "held", "finalizers": ["x/y"]}})
    _, gone = await api.delete(namespaces, "", "t")  # Terminating while "held" remains
    assert not gone
    with pytest.raises(ApiError) as err:
        await api.create(cms, "t", {"metadata": {"name": "late"}})
    assert err.value.code == 403
    await api.patch(cms, "t", "held", storage.MERGE_PATCH, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiError) as err:
        await api.create(cms, "t", {"metadata": {"name": "late"}})
    assert err.value.code == 404  # gone with its last object
    await api.create(namespaces, "", {"metadata": {"name": "t"}})
    await api.create(cms, "t", {"metadata": {"name": "late"}})  # open again


async def test_create_leaves_the_callers_object_alone_unless_owned(api):
    services = kind(api, "services")
    body = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    before = json.dumps(body)
    await api.create(services, "default", body)
    assert json.dumps(body) == before
    owned = {"metadata": {"name": "mine"}, "spec": {"ports": [{"port": 80}]}}
    created = await api.create(services, "default", owned, owned=True)
    assert created["spec"]["clusterIP"] and created["metadata"]["uid"]
