"""What kapi compiles to save work per write answers exactly as the walks it stands in
for: the compiled shape checker as ``shapes.check`` (problems, their order, and the
object it leaves), on objects built from every kind's shape with wrong types and
``null``s mixed in."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedns.kapi import builtin, shapecheck, shapes

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
