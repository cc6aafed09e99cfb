"""plan(current, desired, owned): table tests of every ownership rule."""

from __future__ import annotations

import pytest

from fedns.records import plan

CASES = [
    pytest.param({}, {"k": "v"}, [], plan.Changes(create={"k": "v"}, owned=("k",)),
                 id="create-absent"),
    pytest.param({"k": "v"}, {"k": "v"}, ["k"], plan.Changes(owned=("k",)), id="unchanged"),
    pytest.param({"k": "old"}, {"k": "new"}, ["k"],
                 plan.Changes(update={"k": "new"}, owned=("k",)), id="update-owned"),
    pytest.param({"k": "theirs"}, {"k": "ours"}, [],
                 plan.Changes(conflicts=("k",)), id="conflict-not-owned"),
    pytest.param({"k": "v"}, {"k": "v"}, [],
                 plan.Changes(conflicts=("k",)), id="conflict-even-when-equal"),
    pytest.param({"k": "v"}, {}, ["k"], plan.Changes(delete=("k",)), id="delete-owned"),
    pytest.param({}, {}, ["k"], plan.Changes(), id="owned-but-gone"),
    pytest.param({"x": "v"}, {}, [], plan.Changes(), id="foreign-untouched"),
    pytest.param({}, {"k": "v"}, ["k"], plan.Changes(create={"k": "v"}, owned=("k",)),
                 id="owned-but-gone-recreated"),
    pytest.param(
        {"a": "1", "b": "2", "c": "3", "x": "foreign"},
        {"a": "1", "b": "two", "d": "4", "x": "mine"},
        ["a", "b", "c"],
        plan.Changes(create={"d": "4"}, update={"b": "two"}, delete=("c",), conflicts=("x",),
                     owned=("a", "b", "d")),
        id="mixed",
    ),
]


@pytest.mark.parametrize(("current", "desired", "owned", "changes"), CASES)
def test_plan(current, desired, owned, changes):
    assert plan.plan(current, desired, owned) == changes


def test_never_touches_unowned_keys():
    current = {f"k{i}": "theirs" for i in range(10)}
    changes = plan.plan(current, {f"k{i}": "ours" for i in range(5)}, owned=["k9"])
    touched = set(changes.create) | set(changes.update) | set(changes.delete)
    assert touched == {"k9"} and changes.conflicts == tuple(f"k{i}" for i in range(5))
