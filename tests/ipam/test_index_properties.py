"""FreeIndex against a plain set model, over random pools and operation sequences."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ipam import address, errors, index, pool

V4_BASE = int(ipaddress.IPv4Address("10.0.0.0"))
V4_SPAN = 1024  # four /24s, so .0/.255 edges and buggy gaps occur
V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))
V6_SPAN = 64


@st.composite
def blocks(draw, base, span, most):
    """Disjoint intervals (offsets from base), possibly touching."""
    cuts = sorted(draw(st.sets(st.integers(0, span - 1), min_size=1, max_size=2 * most)))
    if len(cuts) % 2:
        cuts.append(cuts[-1])
    return [(base + cuts[i], base + cuts[i + 1]) for i in range(0, len(cuts), 2)]


@st.composite
def pools(draw):
    families = draw(st.sampled_from([(4,), (6,), (4, 6)]))
    ranges = []
    if 4 in families:
        ranges += [(4, a, b) for a, b in draw(blocks(V4_BASE, V4_SPAN, 3))]
    if 6 in families:
        ranges += [(6, a, b) for a, b in draw(blocks(V6_BASE, V6_SPAN, 2))]
    reserved = []
    for family, first, last in ranges:
        if draw(st.booleans()):
            a = draw(st.integers(first, last))
            b = draw(st.integers(a, min(last, a + 20)))
            reserved.append((family, a, b))
    return pool.from_dict({
        "name": "p", "site": "s",
        "addresses": [address.render(*r) for r in ranges],
        "reserved": [address.render(*r) for r in reserved],
        "avoidBuggyIPs": draw(st.booleans()),
    })


def any_address():
    return st.one_of(
        st.integers(V4_BASE - 2, V4_BASE + V4_SPAN + 1).map(lambda v: (4, v)),
        st.integers(V6_BASE - 2, V6_BASE + V6_SPAN + 1).map(lambda v: (6, v)))


class FreeIndexModel(RuleBasedStateMachine):
    """The index must agree with: assignable set, held set, cooling dict."""

    @initialize(p=pools(), cooldown=st.sampled_from([0.0, 10.0]))
    def build(self, p, cooldown):
        self.pool = p
        self.free = index.FreeIndex.from_pool(p)
        self.cooldown = cooldown
        self.now = 0.0
        self.assignable = {
            (f, v) for f, a, b in p.ranges for v in range(a, b + 1)
            if not any(rf == f and ra <= v <= rb for rf, ra, rb in p.reserved_ranges)
            and not (p.avoid_buggy_ips and address.is_buggy(f, v))}
        self.held: set[tuple[int, int]] = set()
        self.cooling: dict[tuple[int, int], float] = {}

    def expected_lowest(self, family):
        for key, when in list(self.cooling.items()):
            if self.cooldown <= 0 or when <= self.now - self.cooldown:
                del self.cooling[key]
        ready = [v for f, v in self.assignable - self.held - set(self.cooling) if f == family]
        if ready:
            return min(ready)
        cooling = sorted((when, v) for (f, v), when in self.cooling.items() if f == family)
        return cooling[0][1] if cooling else None

    @rule(family=st.sampled_from([4, 6]))
    def take_lowest(self, family):
        expected = self.expected_lowest(family)
        try:
            got = self.free.take_lowest(family, now=self.now, cooldown=self.cooldown)
        except errors.PoolExhausted:
            assert expected is None
            return
        key = (family, int(got))
        assert int(got) == expected
        assert key not in self.held, "handed out twice"
        assert key in self.assignable, "reserved, buggy or outside the pool"
        assert self.pool.contains(family, int(got))
        self.held.add(key)
        self.cooling.pop(key, None)

    @rule(key=any_address())
    def take(self, key):
        free = key in self.assignable and key not in self.held
        try:
            self.free.take(address.to_address(*key))
        except (errors.AddressNotFree, errors.AddressNotInPool):
            assert not free
            return
        assert free
        self.held.add(key)
        self.cooling.pop(key, None)

    @rule(data=st.data(), timed=st.booleans())
    def release(self, data, timed):
        choices = sorted(self.held) or [(4, V4_BASE)]
        key = data.draw(st.one_of(st.sampled_from(choices), any_address()))
        try:
            self.free.release(address.to_address(*key),
                              released_at=self.now if timed else None)
        except errors.AddressNotAllocated:
            assert key not in self.held
            return
        assert key in self.held
        self.held.discard(key)
        if timed:
            self.cooling[key] = self.now

    @rule(seconds=st.sampled_from([1.0, 5.0, 20.0]))
    def tick(self, seconds):
        self.now += seconds

    @precondition(lambda self: hasattr(self, "free"))
    @invariant()
    def counts_agree(self):
        assert self.free.capacity == len(self.assignable)
        assert self.free.used == len(self.held)
        assert self.free.used + self.free.free == self.free.capacity
        for family in (4, 6):
            assert self.free.used_of(family) + self.free.free_of(family) \
                == self.free.capacity_of(family)

    def teardown(self):
        if not hasattr(self, "free"):
            return
        for family, base, span in ((4, V4_BASE, V4_SPAN), (6, V6_BASE, V6_SPAN)):
            for value in range(base - 1, base + span + 1):
                key = (family, value)
                expected = key in self.assignable and key not in self.held
                assert self.free.is_free(address.to_address(family, value)) == expected, key


FreeIndexModel.TestCase.settings = settings(
    max_examples=120, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestFreeIndexModel = FreeIndexModel.TestCase
