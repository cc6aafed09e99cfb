"""propagate.divide: replicas evenly over members, the remainder by a stable hash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propagate import divide

MEMBERS = ["east", "north", "west"]


@pytest.mark.parametrize("total, members, counts", [
    (6, MEMBERS, [2, 2, 2]),
    (0, MEMBERS, [0, 0, 0]),
    (3, MEMBERS, [1, 1, 1]),
    (7, MEMBERS, None),  # 3,2,2 in some hashed order
    (5, ["solo"], [5]),
    (4, [], []),
], ids=["even", "zero", "one-each", "remainder", "one-member", "no-members"])
def test_divide(total, members, counts):
    got = divide.divide(total, members, "apps/Deployment/default/web")
    assert sum(got.values()) == (total if members else 0)
    if counts is not None:
        assert [got[m] for m in sorted(members)] == counts
    else:
        assert sorted(got.values()) == [2, 2, 3]


def test_remainder_goes_by_hash_not_by_name():
    favoured = {next(m for m, n in divide.divide(4, MEMBERS, f"ns/web-{i}").items() if n == 2)
                for i in range(40)}
    assert favoured == set(MEMBERS)


@pytest.mark.parametrize("total", [-1, 1.5, True, "3"], ids=["negative", "float", "bool", "str"])
def test_bad_totals_are_refused(total):
    with pytest.raises(divide.BadReplicas, match="replicas"):
        divide.divide(total, MEMBERS, "k")


@given(st.integers(0, 10_000), st.sets(st.text(min_size=1, max_size=8), max_size=12),
       st.text(max_size=20))
def test_division_is_even_and_stable(total, members, key):
    got = divide.divide(total, list(members), key)
    assert got == divide.divide(total, sorted(members, reverse=True), key)
    if members:
        assert sum(got.values()) == total
        assert max(got.values()) - min(got.values()) <= 1
