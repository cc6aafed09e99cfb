"""FreeIndex: exact counts, take/release/merge, reserved, avoidBuggyIPs, cooldown."""

from __future__ import annotations

import ipaddress

import pytest

from ipam import errors, index, pool


def make(*addresses, reserved=(), avoid=False):
    return index.FreeIndex.from_pool(pool.from_dict({
        "name": "p", "site": "s", "addresses": list(addresses), "reserved": list(reserved),
        "avoidBuggyIPs": avoid}))


def ip(text):
    return ipaddress.ip_address(text)


COUNTS = [
    ("v4-/24", ["10.0.0.0/24"], [], False, 256),
    ("v4-/16", ["10.0.0.0/16"], [], False, 65536),
    ("v6-/64", ["2001:db8::/64"], [], False, 18446744073709551616),
    ("v6-/48", ["2001:db8::/48"], [], False, 2 ** 80),
    ("range", ["10.0.0.10-10.0.0.20"], [], False, 11),
    ("reserved", ["10.0.0.0/24"], ["10.0.0.0/30", "10.0.0.255"], False, 251),
    ("buggy-/24", ["10.0.0.0/24"], [], True, 254),
    ("buggy-/16", ["10.0.0.0/16"], [], True, 65536 - 512),
    ("buggy-/8", ["10.0.0.0/8"], [], True, 2 ** 24 - 2 * 2 ** 16),
    ("buggy-range-no-edge", ["10.0.0.1-10.0.0.254"], [], True, 254),
    ("buggy-across-/24", ["10.0.0.250-10.0.1.5"], [], True, 10),
    ("buggy-and-reserved", ["10.0.0.0/24"], ["10.0.0.0/25"], True, 127),
    ("buggy-ignores-v6", ["2001:db8::/120"], [], True, 256),
    ("dual", ["10.0.0.0/24", "2001:db8::/64"], [], False, 256 + 2 ** 64),
]


@pytest.mark.parametrize("addresses, reserved, avoid, capacity", [c[1:] for c in COUNTS],
                         ids=[c[0] for c in COUNTS])
def test_exact_counts(addresses, reserved, avoid, capacity):
    free = make(*addresses, reserved=reserved, avoid=avoid)
    assert (free.capacity, free.free, free.used) == (capacity, capacity, 0)
    assert type(free.capacity) is int
    free.take_lowest()
    assert (free.free, free.used) == (capacity - 1, 1)


def test_v64_reports_exact_count_and_stays_one_interval():
    free = make("2001:db8::/64")
    assert free.capacity == 18446744073709551616
    taken = [free.take_lowest(6) for _ in range(3)]
    assert taken == [ip("2001:db8::"), ip("2001:db8::1"), ip("2001:db8::2")]
    assert (free.used, free.free, free.fragments) == (3, 2 ** 64 - 3, 1)


def test_take_lowest_in_order_then_exhausted():
    free = make("10.0.0.0/30")
    assert [free.take_lowest() for _ in range(4)] == [ip(f"10.0.0.{i}") for i in range(4)]
    with pytest.raises(errors.PoolExhausted, match='^pool "p": no free IPv4 address$'):
        free.take_lowest()
    assert free.lowest_free(4) is None


def test_take_specific_release_and_merge_back_to_one_interval():
    free = make("10.0.0.0/24")
    free.take("10.0.0.10")
    free.take(ip("10.0.0.12"))
    assert list(free.free_ranges(4)) == [
        (0x0A000000, 0x0A000009), (0x0A00000B, 0x0A00000B), (0x0A00000D, 0x0A0000FF)]
    assert not free.is_free("10.0.0.10") and free.is_free("10.0.0.11")
    free.release("10.0.0.12")
    assert free.fragments == 2
    free.release("10.0.0.10")
    assert list(free.free_ranges(4)) == [(0x0A000000, 0x0A0000FF)]
    assert free.used == 0


def test_first_and_last_address_split_at_edges():
    free = make("10.0.0.0/24")
    free.take("10.0.0.255")
    free.take("10.0.0.0")
    assert list(free.free_ranges(4)) == [(0x0A000001, 0x0A0000FE)]
    free.release("10.0.0.0")
    free.release("10.0.0.255")
    assert list(free.free_ranges(4)) == [(0x0A000000, 0x0A0000FF)]


REFUSED = [
    ("take-taken", "take", "10.0.0.5", errors.AddressNotFree,
     'pool "p": 10.0.0.5 is already allocated'),
    ("take-outside", "take", "10.0.1.5", errors.AddressNotInPool,
     'pool "p": 10.0.1.5 is not an address it hands out'),
    ("take-reserved", "take", "10.0.0.1", errors.AddressNotInPool,
     'pool "p": 10.0.0.1 is not an address it hands out'),
    ("take-buggy", "take", "10.0.0.0", errors.AddressNotInPool,
     'pool "p": 10.0.0.0 is not an address it hands out'),
    ("take-v6-in-v4-pool", "take", "2001:db8::1", errors.AddressNotInPool,
     'pool "p": 2001:db8::1 is not an address it hands out'),
    ("release-free", "release", "10.0.0.6", errors.AddressNotAllocated,
     'pool "p": 10.0.0.6 is not allocated'),
    ("release-reserved", "release", "10.0.0.1", errors.AddressNotAllocated,
     'pool "p": 10.0.0.1 is not allocated'),
    ("release-outside", "release", "192.0.2.1", errors.AddressNotAllocated,
     'pool "p": 192.0.2.1 is not allocated'),
    ("bad-text", "take", "10.0.0.x", errors.AddressInvalid,
     '"10.0.0.x" is not a valid IP address'),
]


@pytest.mark.parametrize("op, text, error, message", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused_operations_leave_state_unchanged(op, text, error, message):
    free = make("10.0.0.0/24", reserved=["10.0.0.1"], avoid=True)
    free.take("10.0.0.5")
    before = (list(free.free_ranges(4)), free.used)
    with pytest.raises(error) as caught:
        getattr(free, op)(text)
    assert str(caught.value) == message
    assert (list(free.free_ranges(4)), free.used) == before


def test_reserved_addresses_never_go_out():
    free = make("10.0.0.0/29", reserved=["10.0.0.0", "10.0.0.3-10.0.0.4"])
    got = [str(free.take_lowest()) for _ in range(free.capacity)]
    assert got == ["10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.0.6", "10.0.0.7"]
    assert not free.contains("10.0.0.3") and free.contains("10.0.0.2")


def test_avoid_buggy_skips_dot0_and_dot255_across_24s_without_fragmenting():
    free = make("10.0.0.0/22", avoid=True)
    assert free.fragments == 1  # the /22 stays one interval: buggy addresses are implicit
    got = [free.take_lowest() for _ in range(free.capacity)]
    assert all(a.packed[3] not in (0, 255) for a in got)
    assert len(set(got)) == len(got) == 4 * 254
    assert got[253:255] == [ip("10.0.0.254"), ip("10.0.1.1")]
    with pytest.raises(errors.PoolExhausted):
        free.take_lowest()


def test_avoid_buggy_release_bridges_buggy_gap():
    free = make("10.0.0.0/23", avoid=True)
    free.take("10.0.0.254")
    free.take("10.0.1.1")
    assert free.fragments == 2
    assert not free.is_free("10.0.0.255") and not free.is_free("10.0.1.0")
    free.release("10.0.1.1")
    free.release("10.0.0.254")
    assert free.fragments == 1 and free.used == 0


def test_avoid_buggy_on_a_slash8_is_one_interval():
    free = make("10.0.0.0/8", avoid=True)
    assert free.fragments == 1
    assert free.take_lowest() == ip("10.0.0.1")
    free.take("10.200.0.1")
    assert free.fragments == 2


def test_dual_family_pool_takes_per_family():
    free = make("10.0.0.0/30", "2001:db8::/126")
    assert free.families == (4, 6)
    assert free.take_lowest() == ip("10.0.0.0")  # the only-family default prefers IPv4
    assert free.take_lowest(6) == ip("2001:db8::")
    assert (free.used_of(4), free.used_of(6), free.free_of(6)) == (1, 1, 3)
    assert free.capacity_of(4) == 4 and free.capacity_of(6) == 4


def test_cooldown_prefers_addresses_not_recently_released():
    free = make("10.0.0.0/29")
    for _ in range(3):
        free.take_lowest()
    free.release("10.0.0.0", released_at=100.0)
    assert free.is_free("10.0.0.0") and free.free == 6
    # Within the cooldown the recently released address is passed over ...
    assert free.take_lowest(now=105.0, cooldown=30.0) == ip("10.0.0.3")
    # ... and after it, it is the lowest again.
    assert free.lowest_free(4, now=130.0, cooldown=30.0) == ip("10.0.0.0")
    assert free.take_lowest(now=130.0, cooldown=30.0) == ip("10.0.0.0")


def test_cooldown_falls_back_to_longest_cooling_when_nothing_else_is_free():
    free = make("10.0.0.0/30")
    for _ in range(4):
        free.take_lowest()
    free.release("10.0.0.3", released_at=10.0)
    free.release("10.0.0.1", released_at=20.0)
    assert free.take_lowest(now=21.0, cooldown=60.0) == ip("10.0.0.3")
    assert free.take_lowest(now=21.0, cooldown=60.0) == ip("10.0.0.1")


def test_cooling_address_can_be_taken_on_request_and_not_released_twice():
    free = make("10.0.0.0/30")
    free.take("10.0.0.2")
    free.release("10.0.0.2", released_at=1.0)
    with pytest.raises(errors.AddressNotAllocated):
        free.release("10.0.0.2", released_at=2.0)
    free.take("10.0.0.2")
    assert not free.is_free("10.0.0.2") and free.used == 1
    free.release("10.0.0.2")
    assert free.used == 0


def test_no_cooldown_means_released_addresses_are_free_at_once():
    free = make("10.0.0.0/30")
    free.take_lowest()
    free.release("10.0.0.0", released_at=50.0)
    assert free.take_lowest() == ip("10.0.0.0")
