"""Division properties over random weights, bounds, holdings and totals.

The reference is the rule itself written out plainly: list every seat a member could
take with its class and worth, sort, take a prefix.  ``divide`` (heap and bisection
paths) must agree with it exactly; the rest are the properties the README promises.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from placement import division, members


@st.composite
def shares(draw, most=8):
    n = draw(st.integers(0, most))
    out = []
    for i in range(n):
        weight = draw(st.integers(0, 12))
        low = draw(st.integers(0, 4))
        high = draw(st.one_of(st.none(), st.integers(low, low + 15)))
        out.append(division.Share(f"m{i}", weight, low, high))
    return out


def held_for(draw, share_list):
    return {s.name: draw(st.integers(0, 12)) for s in share_list if draw(st.booleans())}


def reference(total, share_list, key, held):
    """Every seat: (class, -worth, hash, name, j); the division is the first ``total``."""
    held = held or {}
    seats = []
    for s in share_list:
        cap = total if s.max is None else min(s.max, total)
        floor = min(s.min, cap)
        top = cap if s.weight > 0 else floor
        have = min(held.get(s.name, 0), top)
        tie = (members.stable_hash(key, s.name), s.name)
        for j in range(1, top + 1):
            if j <= floor:
                klass = 0 if j <= have else 1
            else:
                klass = 2 if j <= have else 3
            seats.append((klass, -Fraction(2 * s.weight, 2 * j - 1), tie, j, s.name))
    seats.sort()
    out = {s.name: 0 for s in share_list}
    for seat in seats[:total]:
        out[seat[-1]] += 1
    return out


@settings(max_examples=300, deadline=None)
@given(st.data(), shares(), st.integers(0, 120), st.text(max_size=6))
def test_agrees_with_the_plain_rule(data, share_list, total, key):
    held = held_for(data.draw, share_list) if data.draw(st.booleans()) else None
    assert division.divide(total, share_list, key, held) == reference(total, share_list, key,
                                                                      held)


@settings(max_examples=300, deadline=None)
@given(shares(), st.integers(0, 200), st.text(max_size=6))
def test_bounds_sum_and_determinism(share_list, total, key):
    got = division.divide(total, share_list, key)
    assert got == division.divide(total, list(reversed(share_list)), key)
    assert sum(got.values()) == division.capacity(share_list, total)
    floors = sum(s.min for s in share_list)
    for s in share_list:
        assert s.max is None or got[s.name] <= s.max
        if floors <= total:
            assert got[s.name] >= s.min


@settings(max_examples=300, deadline=None)
@given(st.data(), shares(), st.integers(0, 150), st.integers(1, 30), st.text(max_size=6))
def test_a_larger_total_never_lowers_a_member(data, share_list, total, more, key):
    held = held_for(data.draw, share_list) if data.draw(st.booleans()) else None
    low = division.divide(total, share_list, key, held)
    high = division.divide(total + more, share_list, key, held)
    assert all(high[name] >= low[name] for name in low)


@settings(max_examples=300, deadline=None)
@given(shares(), st.integers(0, 80), st.integers(0, 80), st.text(max_size=6))
def test_sticky_change_from_a_division_equals_a_fresh_one(share_list, before, after, key):
    # replicas placed by the method and then scaled: exactly where a fresh division
    # of the new total puts them, so nothing moves that did not have to
    placed = division.divide(before, share_list, key)
    assert division.divide(after, share_list, key, placed) == division.divide(after, share_list,
                                                                               key)


@settings(max_examples=200, deadline=None)
@given(st.data(), shares(), st.integers(0, 100), st.integers(0, 100), st.text(max_size=6))
def test_scaling_moves_only_the_difference(data, share_list, before, after, key):
    held = division.divide(before, share_list, key, held_for(data.draw, share_list))
    got = division.divide(after, share_list, key, held)
    if after >= before:
        assert all(got[n] >= held[n] for n in held)
    else:
        assert all(got[n] <= held[n] for n in held)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=12), st.integers(100, 5000),
       st.text(max_size=4))
def test_bulk_path_agrees_with_the_plain_rule(weights, total, key):
    share_list = [division.Share(f"m{i}", w, i % 3, None if i % 4 else 40 + i)
                  for i, w in enumerate(weights)]
    assert division.divide(total, share_list, key) == reference(total, share_list, key, None)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.lists(st.integers(999_000, 1_000_000), min_size=2, max_size=10),
       st.integers(200, 3000), st.text(max_size=4))
def test_bulk_path_with_near_ties_and_holdings(data, weights, total, key):
    # weights within 0.1 % of each other: worths that round alike as floats are common
    share_list = [division.Share(f"m{i}", w, 0, None if i % 3 else 500)
                  for i, w in enumerate(weights)]
    held = {s.name: data.draw(st.integers(0, 300)) for s in share_list}
    assert division.divide(total, share_list, key, held) == reference(total, share_list, key,
                                                                      held)
