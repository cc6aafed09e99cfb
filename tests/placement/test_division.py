"""Webster division: the cases that broke earlier planners, bounds, stickiness, capacity."""

from __future__ import annotations

import pytest

from placement import division

S = division.Share


def test_four_over_three_equal_members_is_two_one_one():
    got = division.divide(4, [S("a"), S("b"), S("c")], "default/web")
    assert sorted(got.values()) == [1, 1, 2]


@pytest.mark.parametrize("key", ["default/web", "prod/api", "x", ""])
def test_five_three_two_from_six_to_seven_lowers_no_member(key):
    shares = [S("a", 5), S("b", 3), S("c", 2)]
    six, seven = division.divide(6, shares, key), division.divide(7, shares, key)
    assert six == {"a": 3, "b": 2, "c": 1}
    assert seven == {"a": 4, "b": 2, "c": 1}


def test_ties_go_by_object_hash_not_by_name():
    # one replica over two equal members: which one depends on the object, and over
    # many objects both members are chosen about as often
    firsts = [max(division.divide(1, [S("a"), S("b")], f"ns/obj-{i}").items(),
                  key=lambda kv: kv[1])[0] for i in range(200)]
    assert 60 < firsts.count("a") < 140


CASES = [
    # (total, shares, held, expected)
    (10, [S("a", 1), S("b", 1)], None, {"a": 5, "b": 5}),
    (10, [S("a", 1, max=2), S("b", 1)], None, {"a": 2, "b": 8}),
    (10, [S("a", 1, max=2), S("b", 1, max=3)], None, {"a": 2, "b": 3}),
    (3, [S("a", 1, min=3), S("b", 9)], None, {"a": 3, "b": 0}),
    (5, [S("a", 1, min=3), S("b", 9)], None, {"a": 3, "b": 2}),
    (10, [S("a", 0, min=2), S("b", 1)], None, {"a": 2, "b": 8}),
    (10, [S("a", 0), S("b", 0, min=1)], None, {"a": 0, "b": 1}),
    (0, [S("a"), S("b", min=2)], None, {"a": 0, "b": 0}),
    (7, [], None, {}),
    # sticky: up by 2 from 3/3 divides only the 2, down removes what was added last
    (8, [S("a"), S("b"), S("c")], {"a": 3, "b": 3}, {"a": 3, "b": 3, "c": 2}),
    (4, [S("a"), S("b"), S("c")], {"a": 3, "b": 3}, {"a": 2, "b": 2, "c": 0}),
    (6, [S("a"), S("b"), S("c")], {"a": 3, "b": 3}, {"a": 3, "b": 3, "c": 0}),
    # held beyond a (lowered) max is trimmed and re-divided
    (6, [S("a", max=1), S("b"), S("c")], {"a": 3, "b": 3}, {"a": 1, "b": 3, "c": 2}),
    # a raised minimum takes effect at once, from the seats least worth keeping
    (6, [S("a"), S("b"), S("c", min=2)], {"a": 3, "b": 3}, {"a": 2, "b": 2, "c": 2}),
    # weight 0 keeps only its minimum of what it held
    (6, [S("a", 0, min=1), S("b")], {"a": 4, "b": 2}, {"a": 1, "b": 5}),
]


@pytest.mark.parametrize("total,shares,held,expected", CASES,
                         ids=[f"case-{i}" for i in range(len(CASES))])
def test_table(total, shares, held, expected):
    assert division.divide(total, shares, "ns/obj", held) == expected


def test_capacity_overflow_goes_to_the_next_members():
    # member a can run only 2 of the 4 it would get (its Pods stay Unschedulable)
    shares = [S("a", 2, max=2), S("b", 1), S("c", 1)]
    got = division.divide(8, shares, "ns/obj", {"a": 4, "b": 2, "c": 2})
    assert got == {"a": 2, "b": 3, "c": 3}


def test_large_totals_are_exact_and_quick():
    shares = [S(f"m{i}", w) for i, w in enumerate([1, 2, 3, 5, 8, 13, 21])]
    got = division.divide(1_000_000, shares, "ns/big")
    assert sum(got.values()) == 1_000_000
    weights = sum(s.weight for s in shares)
    for s in shares:  # Webster stays within one seat of the exact quota
        assert abs(got[s.name] - 1_000_000 * s.weight / weights) < 1


def test_capacity_counts_what_fits():
    shares = [S("a", 1, max=2), S("b", 0, min=1), S("c", 0)]
    assert division.capacity(shares, 10) == 3
    assert division.capacity([S("a")], 10) == 10
