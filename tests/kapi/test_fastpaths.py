"""What kapi compiles to save work per write answers exactly as the walks it stands in
for: the compiled shape checker as ``shapes.check`` (problems, their order, and the
object it leaves), on objects built from every kind's shape with wrong types and
``null``s mixed in; fieldValidation's plans find an unknown field exactly when its
walk does, on objects built from every built-in kind's schema and a custom one;
``objects.deepcopy`` makes the copy ``copy.deepcopy`` makes, sharing and cycles
included; encoded watches serve another Storage's writes, and values none wrote, as
the objects they are."""

from __future__ import annotations

import asyncio
import collections
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedns.kapi import (
    builtin,
    fieldplans,
    fieldvalidation,
    objects,
    schemas,
    shapecheck,
    shapes,
    storage,
)
from fedns.store import memory

KINDS = sorted({(k.group, k.kind) for k in builtin.registry().kinds()})
WRONG = st.sampled_from([None, True, 3, 2**40, -2**70, 1.5, "x", "2026-01-01T00:00:00Z",
                         "2026-13-01T00:00:00Z", [], ["a"], [1], {}, {"a": "b"},
                         {"a": None}, {"a": 1}])


def values(node: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a field of ``node``'s shape: mostly well typed, sometimes not."""
    typed: st.SearchStrategy[Any]
    if node.kind == shapes.OBJECT and node.fields and depth < 6:
        # at most 12 of the listed fields, so that an object stays small
        typed = st.fixed_dictionaries({}, optional={
            **{name: values(node.fields[name], depth + 1) for name in sorted(node.fields)[:12]},
            "unlisted": WRONG})
    elif node.kind == shapes.ARRAY and node.items is not None and depth < 6:
        typed = st.lists(values(node.items, depth + 1), max_size=2)
    else:
        typed = {
            shapes.STRING: st.text(max_size=3), shapes.BOOLEAN: st.booleans(),
            shapes.INTEGER: st.integers(-2**64, 2**64), "int32": st.integers(-2**32, 2**32),
            shapes.INT_OR_STRING: st.integers() | st.text(max_size=2),
            shapes.TIME: st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+01:00",
                                          "2026-02-30T00:00:00Z", "yesterday"]),
            shapes.STRING_MAP: st.dictionaries(st.text(max_size=2),
                                               st.text(max_size=2) | st.none(), max_size=2),
            shapes.STRINGS: st.lists(st.text(max_size=2), max_size=2),
            shapes.OBJECT: st.dictionaries(st.text(max_size=2), WRONG, max_size=2),
            shapes.ARRAY: st.lists(st.dictionaries(st.text(max_size=2), WRONG, max_size=1)
                                   | st.none(), max_size=2),
        }.get(node.kind, WRONG)
    return st.one_of(typed, typed, typed, WRONG)


@pytest.mark.parametrize("group,kind", KINDS, ids=[f"{g or 'core'}.{k}" for g, k in KINDS])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_compiled_shape_check_answers_as_the_walk(group, kind, data):
    obj = data.draw(values(shapes.shape_of(group, kind)).filter(
        lambda v: isinstance(v, dict)))
    walked, compiled = copy.deepcopy(obj), copy.deepcopy(obj)
    assert shapecheck.check(group, kind, compiled) == shapes.check(group, kind, walked)
    assert compiled == walked


@pytest.mark.parametrize("obj", [
    pytest.param({"metadata": {"name": "a", "labels": {"x": None}}}, id="null-label"),
    pytest.param({"metadata": {"name": None, "ownerReferences": [None]}}, id="null-items"),
    pytest.param({"spec": {"ports": [{"port": 2**31}]}}, id="int32-overflow"),
    pytest.param({"spec": {"ports": [{"port": True}]}}, id="bool-is-no-int"),
    pytest.param({"metadata": {"creationTimestamp": "2026-02-30T00:00:00Z"}}, id="no-date"),
], )
def test_compiled_shape_check_on_what_the_walk_changes_or_refuses(obj):
    walked, compiled = copy.deepcopy(obj), copy.deepcopy(obj)
    assert shapecheck.check("", "Service", compiled) == shapes.check("", "Service", walked)
    assert compiled == walked


def test_a_well_typed_object_passes_unchanged():
    obj = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "a", "labels": {"x": "y"},
                        "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"ports": [{"port": 80, "targetPort": "http"}], "type": "ClusterIP"}}
    before = copy.deepcopy(obj)
    assert shapecheck.check("", "Service", obj) == []
    assert obj == before


# -- fieldValidation's plans ----------------------------------------------------------

CUSTOM = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "size": {"type": "integer"},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object", "properties": {
                         "a": {"type": "string"}}}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "open": {"type": "object", "additionalProperties": True,
                 "properties": {"b": {"type": "string"}}},
        "tags": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "c": {"type": "integer"}}}},
        "list": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}}}, "x-kubernetes-list-map-keys": ["name"]}}},
    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}


def schema_values(schema: dict, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for ``schema``: its properties (and sometimes a field it does not name)
    down to a few levels, anything below."""
    schema = schemas.resolve(schema)
    for part in schema.get("allOf") or []:
        if isinstance(part, dict) and "$ref" in part:
            schema = {**schemas.resolve(part), **{k: v for k, v in schema.items()
                                                 if k != "allOf"}}
    leaf = st.one_of(WRONG, st.dictionaries(st.sampled_from(["bogus", "name"]), WRONG,
                                            max_size=2))
    if depth > 4:
        return leaf
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    if isinstance(properties, dict):
        names = sorted(properties)[:10]
        extras = {"bogus": WRONG}
        if schema.get("x-kubernetes-embedded-resource"):
            extras["metadata"] = st.fixed_dictionaries({}, optional={
                "name": st.text(max_size=2), "bogus": WRONG})
        return st.fixed_dictionaries({}, optional={
            **{n: schema_values(properties[n], depth + 1) for n in names}, **extras})
    if isinstance(extra, dict):
        return st.dictionaries(st.text(max_size=2), schema_values(extra, depth + 1),
                               max_size=2)
    if isinstance(schema.get("items"), dict):
        return st.lists(schema_values(schema["items"], depth + 1), max_size=2)
    return leaf


def walked(schema: dict, obj: dict, allowed: tuple[str, ...] = ()) -> list:
    walk = fieldvalidation._Walk(prune=False)
    walk.mapping(obj, schema, "", "", allowed=allowed)
    return walk.found


SCHEMA_KINDS = [k for k in builtin.registry().kinds() if schemas.component(k)]


@pytest.mark.parametrize("kind", SCHEMA_KINDS, ids=[k.qualified for k in SCHEMA_KINDS])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_plans_find_an_unknown_field_exactly_when_the_walk_does(kind, data):
    schema = schemas.definitions()[schemas.component(kind)]
    obj = data.draw(schema_values(schema).filter(lambda v: isinstance(v, dict)))
    before = copy.deepcopy(obj)
    assert fieldplans.has_unknown(fieldplans.root(schema), obj) == bool(walked(schema, obj))
    assert obj == before


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_plans_of_a_custom_schema_find_what_the_walk_finds(data):
    obj = data.draw(st.fixed_dictionaries({}, optional={
        "apiVersion": st.just("x/v1"), "kind": st.just("X"),
        "metadata": st.fixed_dictionaries({}, optional={"name": st.text(max_size=2),
                                                        "bogus": WRONG}),
        "spec": schema_values(CUSTOM["properties"]["spec"]), "bogus": WRONG}))
    found = walked(CUSTOM, obj, fieldplans.ROOT)
    assert fieldplans.has_unknown(fieldplans.root(CUSTOM), obj, fieldplans.ROOT) == bool(found)


# -- objects.deepcopy ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                max_size=3),
    max_leaves=10)


def shape(value: Any, seen: dict[int, int] | None = None) -> Any:
    """``value``'s structure with every container reached again named by when it was
    first reached: two copies with the same shape share the same things."""
    seen = {} if seen is None else seen
    if isinstance(value, dict | list | tuple):
        if id(value) in seen:
            return ("again", seen[id(value)])
        seen[id(value)] = len(seen)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return (type(value).__name__, [(k, shape(v, seen)) for k, v in items])
    return (type(value).__name__, repr(value))


@given(json_values, json_values)
def test_objects_deepcopy_is_copy_deepcopy(first, second):
    shared = {"shared": first}
    cyclic: list[Any] = [second]
    cyclic.append(cyclic)
    value = {"a": shared, "b": [shared, (shared, 1)], "c": cyclic, 1: second,
             "d": collections.OrderedDict(x=shared)}
    copied = objects.deepcopy(value)
    assert shape(copied) == shape(copy.deepcopy(value))
    assert copied["a"] is not shared and copied["c"] is not cyclic


# -- watches served from another Storage's writes -------------------------------------

async def test_encoded_watches_serve_another_storages_writes_as_their_objects():
    store = memory.MemoryStore()
    writer = storage.Storage(store, builtin.registry())  # a sim member's controllers
    server = storage.Storage(store, builtin.registry())  # its API server
    cms = writer.registry.lookup("", "v1", "configmaps")
    await writer.create(writer.registry.lookup("", "v1", "namespaces"), "",
                        {"metadata": {"name": "default"}})
    plain = server.watch(cms)
    first, second = server.watch(cms, encoded=True), server.watch(cms, encoded=True)
    pending = [asyncio.ensure_future(anext(w)) for w in (plain, first, second)]
    await asyncio.sleep(0)  # the watches are open from here on
    await writer.create(cms, "default", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    await writer.update(cms, "default", "c", {"metadata": {"name": "c"}, "data": {}})
    key = writer.key(cms, "default", "c")  # a value no Storage wrote
    await store.put(key, json.dumps({"metadata": {"name": "c", "selfLink": "/x"},
                                     "kind": "ConfigMap", "data": {"a": "b"}}).encode())
    await writer.delete(cms, "default", "c")
    got: list[list[Any]] = [[await p] for p in pending]
    for events, watch in zip(got, (plain, first, second), strict=True):
        while len(events) < 4:
            events.append(await asyncio.wait_for(anext(watch), 5))
        await watch.aclose()
    assert [e.type for e in got[0]] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
    for p, a, b in zip(*got, strict=True):
        assert (a.type, a.revision) == (b.type, b.revision) == (p.type, p.revision)
        assert a.data == b.data == objects.dumps(p.object)
    await store.close()
