"""The free space of one pool, as sorted disjoint integer intervals per family.

``FreeIndex`` answers "lowest free address", "is this one free", takes and releases
addresses, each in O(log F) with F the number of free intervals: it never scans the
pool or the allocations, so a /16 and an IPv6 /64 cost the same.  Counts are exact
integers computed arithmetically.  It does not know who holds an address: see
``ipam.ledger``.

avoidBuggyIPs without enumeration: the .0/.255 addresses are NOT cut out of the
intervals (a /8 would become 65k intervals).  Instead every stored interval starts
and ends on a usable address, so the lowest free address is always the start of the
first interval; buggy addresses inside an interval are skipped implicitly (a take
splits around them and trims the new edges, at most two steps) and subtracted from
counts with ``address.buggy_count``.  Two intervals separated only by buggy addresses
are merged, so F stays what it would be without them.

Reuse cooldown: an address released with a timestamp waits in a separate "cooling"
set instead of the intervals.  ``take_lowest(now, cooldown)`` first moves the cooled
ones back (each once: amortised O(log F)), then takes the lowest interval start; only
when nothing else is free does it hand out the longest-cooling address.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from sortedcontainers import SortedDict, SortedList

from ipam import address, errors, pool


class _Space:
    """The free space of one family."""

    def __init__(self, family: int, avoid_buggy: bool) -> None:
        self.family = family
        self.avoid = avoid_buggy and family == 4
        self.free = SortedDict()  # first -> last, disjoint, edges usable
        self.count = 0  # usable addresses in self.free
        self.cooling: dict[int, float] = {}  # value -> released_at
        self.queue = SortedList()  # (released_at, value), oldest first
        self.capacity = 0
        self.base_firsts: list[int] = []
        self.base_lasts: list[int] = []

    def freeze_base(self) -> None:
        """Remember the initial free space: what the pool can ever hand out."""
        self.capacity = self.count
        self.base_firsts = list(self.free.keys())
        self.base_lasts = list(self.free.values())

    def assignable(self, value: int) -> bool:
        at = bisect.bisect_right(self.base_firsts, value) - 1
        return at >= 0 and value <= self.base_lasts[at] and self.usable(value)

    def usable(self, value: int) -> bool:
        return not (self.avoid and address.is_buggy(4, value))

    def weight(self, first: int, last: int) -> int:
        size = last - first + 1
        return size - address.buggy_count(first, last) if self.avoid else size

    def trim(self, first: int, last: int) -> tuple[int, int]:
        # Runs of buggy addresses are at most two long (x.255, x+1.0).
        while first <= last and not self.usable(first):
            first += 1
        while last >= first and not self.usable(last):
            last -= 1
        return first, last

    def joins(self, last: int, first: int) -> bool:
        gap = first - last - 1
        return gap == 0 or (self.avoid and 0 < gap <= 2
                            and not any(self.usable(v) for v in range(last + 1, first)))

    def add(self, first: int, last: int) -> None:
        """Add a trimmed interval disjoint from the free space, merging neighbours."""
        self.count += self.weight(first, last)
        at = self.free.bisect_left(first)
        if at > 0:
            left_first, left_last = self.free.peekitem(at - 1)
            if self.joins(left_last, first):
                del self.free[left_first]
                first = left_first
                at -= 1
        if at < len(self.free):
            right_first, right_last = self.free.peekitem(at)
            if self.joins(last, right_first):
                del self.free[right_first]
                last = right_last
        self.free[first] = last

    def find(self, value: int) -> tuple[int, int] | None:
        """The free interval holding ``value`` (buggy addresses inside still count)."""
        at = self.free.bisect_right(value) - 1
        if at < 0:
            return None
        first, last = self.free.peekitem(at)
        return (first, last) if value <= last else None

    def remove(self, value: int) -> None:
        if value in self.cooling:
            self.queue.remove((self.cooling.pop(value), value))
            return
        found = self.find(value)
        assert found is not None and self.usable(value)
        first, last = found
        del self.free[first]
        self.count -= 1
        for piece_first, piece_last in ((first, value - 1), (value + 1, last)):
            piece_first, piece_last = self.trim(piece_first, piece_last)
            if piece_first <= piece_last:
                self.free[piece_first] = piece_last

    def expire(self, now: float | None, cooldown: float) -> None:
        while self.queue and (now is None or cooldown <= 0
                              or self.queue[0][0] <= now - cooldown):
            _, value = self.queue.pop(0)
            del self.cooling[value]
            self.add(value, value)

    def lowest(self) -> int | None:
        if self.free:
            return int(self.free.peekitem(0)[0])
        if self.queue:
            return int(self.queue[0][1])
        return None


class FreeIndex:
    """Free addresses of one pool.  Addresses are ``ipaddress`` objects or text."""

    def __init__(self, ranges: Iterable[address.Interval],
                 reserved: Iterable[address.Interval] = (),
                 avoid_buggy: bool = False, name: str = "") -> None:
        self.name = name
        self._ranges = address.merge(ranges)
        self._spaces: dict[int, _Space] = {}
        for family, first, last in address.subtract(self._ranges, reserved):
            space = self._spaces.setdefault(family, _Space(family, avoid_buggy))
            first, last = space.trim(first, last)
            if first <= last:
                space.add(first, last)
        for family, _, _ in self._ranges:
            self._spaces.setdefault(family, _Space(family, avoid_buggy))
        for space in self._spaces.values():
            space.freeze_base()

    @classmethod
    def from_pool(cls, p: pool.Pool) -> FreeIndex:
        """The free space of a new pool: its addresses less reserved and buggy ones."""
        return cls(p.ranges, p.reserved_ranges, p.avoid_buggy_ips, p.name)

    @property
    def families(self) -> tuple[int, ...]:
        return tuple(sorted(self._spaces))

    @property
    def capacity(self) -> int:
        """How many addresses the pool can ever hand out."""
        return sum(space.capacity for space in self._spaces.values())

    @property
    def free(self) -> int:
        return sum(self.free_of(family) for family in self._spaces)

    @property
    def used(self) -> int:
        return self.capacity - self.free

    def capacity_of(self, family: int) -> int:
        space = self._spaces.get(family)
        return space.capacity if space else 0

    def free_of(self, family: int) -> int:
        space = self._spaces.get(family)
        return space.count + len(space.cooling) if space else 0

    def used_of(self, family: int) -> int:
        return self.capacity_of(family) - self.free_of(family)

    @property
    def fragments(self) -> int:
        """F: free intervals plus cooling addresses, the size the operations scale with."""
        return sum(len(s.free) + len(s.cooling) for s in self._spaces.values())

    def free_ranges(self, family: int) -> Iterator[tuple[int, int]]:
        """The free intervals of a family (interior .0/.255 of avoidBuggyIPs included)."""
        space = self._spaces.get(family)
        return iter(space.free.items()) if space else iter(())

    def _locate(self, addr: str | address.Address) -> tuple[_Space | None, int]:
        family, value = address.parse_address(addr)
        return self._spaces.get(family), value

    def _holds(self, space: _Space, value: int) -> bool:
        return space.usable(value) and (value in space.cooling
                                        or space.find(value) is not None)

    def is_free(self, addr: str | address.Address) -> bool:
        space, value = self._locate(addr)
        return space is not None and self._holds(space, value)

    def contains(self, addr: str | address.Address) -> bool:
        """True when the address is one this pool hands out, free or not."""
        space, value = self._locate(addr)
        return space is not None and space.assignable(value)

    def lowest_free(self, family: int | None = None, now: float | None = None,
                    cooldown: float = 0.0) -> address.Address | None:
        """The address ``take_lowest`` would return, or None when the family is full."""
        space = self._space(family)
        if space is None:
            return None
        space.expire(now, cooldown)
        value = space.lowest()
        return None if value is None else address.to_address(space.family, value)

    def take_lowest(self, family: int | None = None, now: float | None = None,
                    cooldown: float = 0.0) -> address.Address:
        """Take the lowest free address not released within ``cooldown`` of ``now``.

        ``family`` None means the pool's only family (IPv4 when it has both).  ``now``
        None, or cooldown 0, ends every cooldown.  ``now`` must not go backwards.
        """
        space = self._space(family)
        value = None
        if space is not None:
            space.expire(now, cooldown)
            value = space.lowest()
        if space is None or value is None:
            which = address.FAMILY_NAMES.get(family or 4, str(family))
            raise errors.PoolExhausted(
                f"{pool.describe(self.name)}: no free {which} address")
        space.remove(value)
        return address.to_address(space.family, value)

    def take(self, addr: str | address.Address) -> None:
        """Take one specific address; refused unless it is free."""
        space, value = self._locate(addr)
        if space is None or not self._holds(space, value):
            if space is None or not space.assignable(value):
                raise errors.AddressNotInPool(
                    f"{pool.describe(self.name)}: {addr} is not an address it hands out")
            raise errors.AddressNotFree(
                f"{pool.describe(self.name)}: {addr} is already allocated")
        space.remove(value)

    def release(self, addr: str | address.Address, released_at: float | None = None) -> None:
        """Give an address back; with ``released_at`` it cools before reuse."""
        space, value = self._locate(addr)
        if space is None or self._holds(space, value) or not space.assignable(value):
            raise errors.AddressNotAllocated(
                f"{pool.describe(self.name)}: {addr} is not allocated")
        if released_at is None:
            space.add(value, value)
        else:
            space.cooling[value] = released_at
            space.queue.add((released_at, value))

    def _space(self, family: int | None) -> _Space | None:
        if family is None:
            family = self.families[0] if self._spaces else 4
        return self._spaces.get(family)

