"""Replica division by Webster's (Sainte-Laguë) highest-averages method, sticky and bounded.

Think of a member's ``j``-th replica as a seat worth ``weight / (j - 1/2)``.  A division
of ``total`` replicas hands out the ``total`` best seats in one fixed order:

1. seats the member holds now, up to its minimum;
2. seats it still needs to reach its minimum;
3. seats above its minimum that it holds now;
4. new seats above its minimum, up to its maximum (and capacity);

and inside each class by worth, ties broken by a SHA-256 hash of the object key and the
member name (never by name order, which would always favour the same member).  Because
it is one order and a division takes a prefix of it:

- it is house-monotone: a larger total never lowers any member (Federation v1's and
  KubeFed's ceiling planner was not: 5:3:2 going from 6 to 7 took the last member from
  1 to 0);
- scaling up or down changes only the difference, so replicas that run stay where they
  are (classes 1 and 3 come before new seats); scaling down removes the seats the
  method would have added last;
- the sum is ``total`` whenever the minimums and maximums allow it, else the most
  they allow.  A member of weight 0 gets its minimum and nothing more.

With nothing held (or on an explicit rebalance, which passes no ``held``) this is the
plain Webster division with floors and caps.  Exact integer arithmetic throughout.
Only the arithmetic: which members take part and what they hold is decided by
placement.decision.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping, Sequence

from placement import members

# Above this many seats per member to hand out, _top first finds a threshold worth by
# bisection (O(n) per step) instead of popping every seat from a heap (O(log n) each).
_BULK = 8


@dataclasses.dataclass(frozen=True)
class Share:
    """One member's terms: its weight, minimum and maximum (None: unbounded)."""

    name: str
    weight: int = 1
    min: int = 0
    max: int | None = None


class _Seat:
    """A member's next seat in a heap, behind its worth rounded to a float.

    Correctly rounded division never inverts an order (a < b gives fl(a) <= fl(b)), so
    the float decides unless two worths round alike; only then is this exact
    comparison (and the hash tie-break) consulted.
    """

    __slots__ = ("h", "i", "j", "w")

    def __init__(self, i: int, w: int, j: int, h: tuple[int, str]) -> None:
        self.i, self.w, self.j, self.h = i, w, j, h

    def __lt__(self, other: _Seat) -> bool:  # "comes first"
        mine, theirs = self.w * (2 * other.j - 1), other.w * (2 * self.j - 1)
        return mine > theirs or (mine == theirs and self.h < other.h)


def _entry(i: int, w: int, j: int, h: tuple[int, str]) -> tuple[float, _Seat]:
    return (-w / (2 * j - 1), _Seat(i, w, j, h))


def _count_above(weights: Sequence[int], lo: Sequence[int], hi: Sequence[int],
                 p: int, q: int) -> list[int]:
    """Per member, how many of its seats in (lo, hi] are worth more than p/q, exactly."""
    out = []
    for w, a, b in zip(weights, lo, hi):
        if w <= 0 or b <= a:
            out.append(0)
            continue
        # 2w/(2j-1) > p/q  <=>  2j-1 < 2wq/p  <=>  j <= ceil(2wq/p) // 2
        last = (-(-2 * w * q // p)) // 2
        out.append(min(max(last, a), b) - a)
    return out


def _rough_count(weights: Sequence[int], lo: Sequence[int], hi: Sequence[int],
                 worth: float) -> int:
    """About how many seats are worth more than ``worth`` (floats: only a guide)."""
    total = 0
    for w, a, b in zip(weights, lo, hi):
        if w > 0 and b > a:
            total += min(max(int(w / worth + 0.5), a), b) - a
    return total


def _threshold(weights: Sequence[int], lo: Sequence[int], hi: Sequence[int],
               k: int) -> list[int]:
    """The seats worth more than some threshold, at most ``k`` and close to it."""
    n = len(weights)
    top = bottom = sum(w for w, a, b in zip(weights, lo, hi) if w > 0 and b > a) / k
    while _rough_count(weights, lo, hi, top) > k:
        top *= 2
    while _rough_count(weights, lo, hi, bottom) <= k:
        bottom /= 2
    for _ in range(60):
        # a member gains at most one seat at any one worth, so the count can jump by up
        # to n at once (n equal weights): within n of k is as close as it may get
        if _rough_count(weights, lo, hi, top) >= k - n:
            break
        middle = (top + bottom) / 2
        if not bottom < middle < top:
            break
        if _rough_count(weights, lo, hi, middle) <= k:
            top = middle
        else:
            bottom = middle
    # the exact count decides; the float guide can be a few seats off near the edge
    while True:
        counts = _count_above(weights, lo, hi, *top.as_integer_ratio())
        if sum(counts) <= k:
            return counts
        top *= 1.000001


def _top(weights: Sequence[int], ties: Sequence[tuple[int, str]], lo: Sequence[int],
         hi: Sequence[int], k: int) -> list[int]:
    """How many of the best ``k`` seats among each member's seats (lo, hi] it gets."""
    n = len(weights)
    taken = [0] * n
    if k <= 0:
        return taken
    if _BULK * n < k < sum(b - a for w, a, b in zip(weights, lo, hi) if w > 0):
        # The seats worth more than a threshold are always a prefix of the order, so
        # jump there first and let the heap place the last few exactly.
        taken = _threshold(weights, lo, hi, k)
        k -= sum(taken)
    heap = [_entry(i, weights[i], lo[i] + taken[i] + 1, ties[i])
            for i in range(n) if lo[i] + taken[i] < hi[i]]
    heapq.heapify(heap)
    while k > 0 and heap:
        seat = heap[0][1]
        taken[seat.i] += 1
        k -= 1
        if seat.j < hi[seat.i]:
            heapq.heapreplace(heap, _entry(seat.i, seat.w, seat.j + 1, seat.h))
        else:
            heapq.heappop(heap)
    return taken


def capacity(shares: Sequence[Share], total: int) -> int:
    """The most replicas these shares can hold out of ``total``."""
    room = 0
    for s in shares:
        top = total if s.max is None else min(s.max, total)
        room += top if s.weight > 0 else min(s.min, top)
    return min(room, total)


def divide(total: int, shares: Sequence[Share], key: str,
           held: Mapping[str, int] | None = None) -> dict[str, int]:
    """``total`` replicas over ``shares`` (every share named, 0 included).

    ``held``: what each member runs now (missing: 0); pass None for a full re-division.
    ``key`` identifies the object; it only breaks ties.
    """
    held = held or {}
    n = len(shares)
    weights = [max(s.weight, 0) for s in shares]
    ties = [(members.stable_hash(key, s.name), s.name) for s in shares]
    cap = [total if s.max is None else max(min(s.max, total), 0) for s in shares]
    floor = [min(max(s.min, 0), c) for s, c in zip(shares, cap)]
    # what is held beyond a member's cap (or, at weight 0, beyond its minimum) is dropped
    have = [min(max(held.get(s.name, 0), 0), c if w > 0 else f)
            for s, c, w, f in zip(shares, cap, weights, floor)]
    kept_floor = [min(h, f) for h, f in zip(have, floor)]
    above = [max(h, f) if w > 0 else f for h, f, w in zip(have, floor, weights)]
    top = [c if w > 0 else f for c, w, f in zip(cap, weights, floor)]
    classes = [([0] * n, kept_floor), (kept_floor, floor), (floor, above), (above, top)]
    counts = [0] * n
    left = total
    for lo, hi in classes:
        if left <= 0:
            break
        room = sum(b - a for a, b in zip(lo, hi))
        k = min(left, room)
        got = _top(weights, ties, lo, hi, k) if k < room else [b - a for a, b in zip(lo, hi)]
        counts = [c + g for c, g in zip(counts, got)]
        left -= k
    return {s.name: c for s, c in zip(shares, counts)}
