"""Allocation decisions: one row per rule, asserting the decision or the refusal."""

from __future__ import annotations

import pytest

from ipam import allocator, ledger, pool, request, site


def P(name, *addresses, **fields):
    return pool.from_dict({"name": name, "site": "umich", "addresses": list(addresses),
                           **fields})


def A(service, addr, pool_name, key="", ports=(), member="m1", namespace="default"):
    return ledger.Allocation(member, namespace, service, f"uid-{service}", pool_name, addr,
                             key, tuple(ports))


def R(**fields):
    base = {"member": "m1", "namespace": "default", "service": "web", "uid": "uid-web"}
    return request.Request(**{**base, **fields})


def ok(*assignments, release=()):
    return ("ok", list(assignments), list(release))


def refuse(reason, message):
    return ("refuse", reason, "m1/default/web: " + message)


PUBLIC = P("public", "192.0.2.0/29", priority=10)
CHEAP = P("cheap", "198.51.100.0/30", priority=1)
GOLD = P("gold", "10.0.0.0/30", priority=5, namespaceSelector={"matchLabels": {"team": "gold"}})
WEB = P("web-only", "10.0.1.0/30", serviceSelector={"matchLabels": {"tier": "web"}})
MANUAL = P("manual", "203.0.113.0/30", autoAssign=False)
OLD = P("old", "172.16.0.0/30", draining=True)
V6 = P("v6", "2001:db8::/126")
RES = P("res", "100.64.0.0/29", reserved=["100.64.0.0-100.64.0.2"], avoidBuggyIPs=True)
TINY = P("tiny", "198.18.0.0/31")
FULL_TINY = [A("f0", "198.18.0.0", "tiny"), A("f1", "198.18.0.1", "tiny")]
FULL_V6 = [A(f"g{i}", f"2001:db8::{i}", "v6") for i in range(4)]
HOLDER = A("other", "192.0.2.3", "public", key="k", ports=[("TCP", 80)])
HOLDER_NOKEY = A("other", "192.0.2.3", "public")
MINE = A("web", "192.0.2.5", "public")

CASES = [
    # pool choice
    ("auto-lowest-free", [PUBLIC], [], {}, ok(("public", "192.0.2.0"))),
    ("auto-skips-taken", [PUBLIC], [HOLDER], {}, ok(("public", "192.0.2.0"))),
    ("priority-lower-number-first", [PUBLIC, CHEAP], [], {}, ok(("cheap", "198.51.100.0"))),
    ("priority-tie-by-name", [P("b", "10.9.0.0/30"), P("a", "10.8.0.0/30")], [], {},
     ok(("a", "10.8.0.0"))),
    ("matching-selector-pools-first", [CHEAP, GOLD], [],
     {"namespace_labels": {"team": "gold"}}, ok(("gold", "10.0.0.0"))),
    ("non-matching-selector-skipped", [CHEAP, GOLD], [],
     {"namespace_labels": {"team": "blue"}}, ok(("cheap", "198.51.100.0"))),
    ("service-selector", [CHEAP, WEB], [], {"service_labels": {"tier": "web"}},
     ok(("web-only", "10.0.1.0"))),
    ("selector-mismatch", [GOLD], [], {"namespace_labels": {"team": "blue"}},
     refuse("selector_mismatch",
            'the selectors of pool "gold" do not match the service or its namespace')),
    ("auto-assign-false-skipped", [MANUAL, PUBLIC], [], {}, ok(("public", "192.0.2.0"))),
    ("no-auto-pool", [MANUAL], [], {},
     refuse("no_pool", 'no pool hands out IPv4 addresses automatically to member "m1"')),
    ("no-pool-at-all", [], [], {},
     refuse("no_pool", 'no pool hands out IPv4 addresses automatically to member "m1"')),
    ("draining-skipped", [OLD, PUBLIC], [], {}, ok(("public", "192.0.2.0"))),
    ("only-draining", [OLD], [], {}, refuse("pool_draining", 'pool "old" is draining')),
    ("exhausted-falls-through", [TINY, PUBLIC], FULL_TINY, {"pool": None},
     ok(("public", "192.0.2.0"))),
    ("exhausted", [TINY], FULL_TINY, {},
     refuse("pool_exhausted", 'no free IPv4 address in pool "tiny"')),
    ("exhausted-several", [TINY, P("one", "198.18.1.0/32")],
     FULL_TINY + [A("f2", "198.18.1.0", "one")], {},
     refuse("pool_exhausted", 'no free IPv4 address in pools "one", "tiny"')),
    ("exhausted-before-draining", [TINY, OLD], FULL_TINY, {},
     refuse("pool_exhausted", 'no free IPv4 address in pool "tiny"')),
    # requested pool (metallb.io/address-pool)
    ("requested-pool-even-without-auto-assign", [PUBLIC, MANUAL], [], {"pool": "manual"},
     ok(("manual", "203.0.113.0"))),
    ("requested-pool-missing", [PUBLIC], [], {"pool": "nope"},
     refuse("no_pool", 'pool "nope" does not exist in the site of member "m1"')),
    ("requested-pool-selectors", [GOLD], [], {"pool": "gold"},
     refuse("selector_mismatch",
            'the selectors of pool "gold" do not match the service or its namespace')),
    ("requested-pool-draining", [OLD, PUBLIC], [], {"pool": "old"},
     refuse("pool_draining", 'pool "old" is draining')),
    ("requested-pool-exhausted", [TINY, PUBLIC], FULL_TINY, {"pool": "tiny"},
     refuse("pool_exhausted", 'no free IPv4 address in pool "tiny"')),
    ("requested-pool-wrong-family", [PUBLIC], [],
     {"pool": "public", "ip_families": ("IPv6",)},
     refuse("no_pool", 'pool "public" has no IPv6 addresses')),
    # requested IPs (spec.loadBalancerIP, metallb.io/loadBalancerIPs)
    ("requested-ip", [PUBLIC], [], {"requested_ips": ("192.0.2.6",)},
     ok(("public", "192.0.2.6"))),
    ("requested-ip-in-manual-pool", [MANUAL], [], {"requested_ips": ("203.0.113.2",)},
     ok(("manual", "203.0.113.2"))),
    ("requested-ip-outside", [PUBLIC], [], {"requested_ips": ("203.0.113.9",)},
     refuse("requested_ip_outside_pools",
            "203.0.113.9 is not in any pool of the member's site")),
    ("requested-ip-reserved", [RES], [], {"requested_ips": ("100.64.0.1",)},
     refuse("requested_ip_outside_pools", '100.64.0.1 is reserved in pool "res"')),
    ("requested-ip-buggy", [P("bug", "100.64.1.0/24", avoidBuggyIPs=True)], [],
     {"requested_ips": ("100.64.1.255",)},
     refuse("requested_ip_outside_pools",
            '100.64.1.255 ends in .0 or .255 and pool "bug" sets avoidBuggyIPs')),
    ("requested-ip-not-in-requested-pool", [PUBLIC, CHEAP], [],
     {"requested_ips": ("192.0.2.1",), "pool": "cheap"},
     refuse("requested_ip_outside_pools",
            '192.0.2.1 is in pool "public", not in the requested pool "cheap"')),
    ("requested-ip-selectors", [GOLD], [], {"requested_ips": ("10.0.0.2",)},
     refuse("selector_mismatch",
            "pool \"gold\"'s selectors do not match the service or its namespace")),
    ("requested-ip-draining", [OLD], [], {"requested_ips": ("172.16.0.1",)},
     refuse("pool_draining", 'pool "old" is draining')),
    ("requested-ip-taken", [PUBLIC], [HOLDER], {"requested_ips": ("192.0.2.3",)},
     refuse("requested_ip_taken",
            "192.0.2.3 is held by m1/default/other; set metallb.io/allow-shared-ip"
            " to share it")),
    ("requested-ip-holder-does-not-share", [PUBLIC], [HOLDER_NOKEY],
     {"requested_ips": ("192.0.2.3",), "sharing_key": "k"},
     refuse("requested_ip_taken",
            "192.0.2.3 is held by m1/default/other which does not allow sharing")),
    ("requested-ip-other-member", [PUBLIC],
     [A("other", "192.0.2.3", "public", key="k", member="m2")],
     {"requested_ips": ("192.0.2.3",), "sharing_key": "k"},
     refuse("requested_ip_taken", "192.0.2.3 is held by m2/default/other")),
    # sharing (metallb.io/allow-shared-ip)
    ("share-disjoint-ports", [PUBLIC], [HOLDER],
     {"requested_ips": ("192.0.2.3",), "sharing_key": "k", "ports": (("TCP", 443),)},
     ok(("public", "192.0.2.3", False, True))),
    ("share-same-port-other-protocol", [PUBLIC], [HOLDER],
     {"requested_ips": ("192.0.2.3",), "sharing_key": "k", "ports": (("UDP", 80),)},
     ok(("public", "192.0.2.3", False, True))),
    ("share-port-clash", [PUBLIC], [HOLDER],
     {"requested_ips": ("192.0.2.3",), "sharing_key": "k", "ports": (("TCP", 80),)},
     refuse("sharing_incompatible",
            "port TCP/80 on 192.0.2.3 is already used by m1/default/other")),
    ("share-other-key", [PUBLIC], [HOLDER],
     {"requested_ips": ("192.0.2.3",), "sharing_key": "j", "ports": (("TCP", 443),)},
     refuse("sharing_incompatible",
            '192.0.2.3 is shared under key "k" by m1/default/other, not "j"')),
    ("key-bound-lands-together", [PUBLIC], [HOLDER],
     {"sharing_key": "k", "ports": (("TCP", 443),)},
     ok(("public", "192.0.2.3", False, True))),
    ("key-bound-port-clash", [PUBLIC], [HOLDER],
     {"sharing_key": "k", "ports": (("TCP", 80),)},
     refuse("sharing_incompatible",
            "port TCP/80 on 192.0.2.3 is already used by m1/default/other")),
    ("key-bound-other-ip-requested", [PUBLIC], [HOLDER],
     {"sharing_key": "k", "requested_ips": ("192.0.2.4",)},
     refuse("sharing_incompatible",
            'sharing key "k" is bound to 192.0.2.3, but 192.0.2.4 was requested')),
    ("key-bound-other-pool-requested", [PUBLIC, CHEAP], [HOLDER],
     {"sharing_key": "k", "pool": "cheap"},
     refuse("sharing_incompatible",
            '192.0.2.3 is in pool "public", not in the requested pool "cheap"')),
    ("key-in-other-member-not-bound", [PUBLIC],
     [A("other", "192.0.2.3", "public", key="k", member="m2")], {"sharing_key": "k"},
     ok(("public", "192.0.2.0"))),
    ("new-key-takes-fresh-address", [PUBLIC], [HOLDER], {"sharing_key": "new"},
     ok(("public", "192.0.2.0"))),
    # families (ipFamilies, ipFamilyPolicy)
    ("single-stack-v6", [PUBLIC, V6], [], {"ip_families": ("IPv6",)},
     ok(("v6", "2001:db8::"))),
    ("require-dual", [PUBLIC, V6], [], {"ip_family_policy": "RequireDualStack"},
     ok(("public", "192.0.2.0"), ("v6", "2001:db8::"))),
    ("require-dual-v6-first", [PUBLIC, V6], [],
     {"ip_family_policy": "RequireDualStack", "ip_families": ("IPv6", "IPv4")},
     ok(("v6", "2001:db8::"), ("public", "192.0.2.0"))),
    ("require-dual-missing-family", [PUBLIC], [], {"ip_family_policy": "RequireDualStack"},
     refuse("no_pool", 'no pool hands out IPv6 addresses automatically to member "m1"')),
    ("prefer-dual-gives-what-exists", [PUBLIC], [], {"ip_family_policy": "PreferDualStack"},
     ok(("public", "192.0.2.0"))),
    ("prefer-dual-skips-exhausted-family", [PUBLIC, V6], FULL_V6,
     {"ip_family_policy": "PreferDualStack"}, ok(("public", "192.0.2.0"))),
    ("prefer-dual-nothing", [TINY], FULL_TINY, {"ip_family_policy": "PreferDualStack"},
     refuse("pool_exhausted", 'no free IPv4 address in pool "tiny"')),
    ("prefer-dual-v6-only-pool", [V6], [], {"ip_family_policy": "PreferDualStack"},
     ok(("v6", "2001:db8::"))),
    ("dual-pool-gives-both", [P("both", "192.0.2.0/30", "2001:db8::/126")], [],
     {"ip_family_policy": "RequireDualStack"},
     ok(("both", "192.0.2.0"), ("both", "2001:db8::"))),
    ("dual-requested-ips", [PUBLIC, V6], [],
     {"ip_family_policy": "RequireDualStack", "requested_ips": ("2001:db8::2", "192.0.2.4")},
     ok(("public", "192.0.2.4"), ("v6", "2001:db8::2"))),
    ("require-dual-one-requested", [PUBLIC, V6], [],
     {"ip_family_policy": "RequireDualStack", "requested_ips": ("192.0.2.4",)},
     ok(("public", "192.0.2.4"), ("v6", "2001:db8::"))),
    ("prefer-dual-requested-v4-only", [PUBLIC, V6], [],
     {"ip_family_policy": "PreferDualStack", "requested_ips": ("192.0.2.4",)},
     ok(("public", "192.0.2.4"))),
    ("prefer-dual-requested-ip-refusal-not-skipped", [PUBLIC, V6],
     [A("other", "2001:db8::2", "v6")],
     {"ip_family_policy": "PreferDualStack", "requested_ips": ("192.0.2.4", "2001:db8::2")},
     refuse("requested_ip_taken",
            "2001:db8::2 is held by m1/default/other which does not allow sharing")),
    # the owner's existing allocations
    ("kept", [PUBLIC], [MINE], {}, ok(("public", "192.0.2.5", True, False))),
    ("kept-in-draining-pool", [OLD], [A("web", "172.16.0.2", "old")], {},
     ok(("old", "172.16.0.2", True, False))),
    ("kept-when-requested", [PUBLIC], [MINE], {"requested_ips": ("192.0.2.5",)},
     ok(("public", "192.0.2.5", True, False))),
    ("moved-to-new-requested-ip", [PUBLIC], [MINE], {"requested_ips": ("192.0.2.6",)},
     ok(("public", "192.0.2.6"), release=["192.0.2.5"])),
    ("moved-to-requested-pool", [PUBLIC, CHEAP], [MINE], {"pool": "cheap"},
     ok(("cheap", "198.51.100.0"), release=["192.0.2.5"])),
    ("moved-when-selectors-stop-matching", [GOLD, PUBLIC], [A("web", "10.0.0.1", "gold")],
     {}, ok(("public", "192.0.2.0"), release=["10.0.0.1"])),
    ("dual-to-single-releases-v6", [PUBLIC, V6],
     [MINE, A("web", "2001:db8::3", "v6")], {}, ok(("public", "192.0.2.5", True, False),
                                                   release=["2001:db8::3"])),
    ("own-address-stays-when-pool-gone", [CHEAP], [A("web", "192.0.2.5", "public")], {},
     ok(("cheap", "198.51.100.0"), release=["192.0.2.5"])),
]


@pytest.mark.parametrize("pools, held, fields, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decision(pools, held, fields, expected):
    state = site.Site(pools, [a for a in held if a.pool in {p.name for p in pools}])
    for a in held:  # an allocation whose pool is gone is still in the ledger
        if a.pool not in state.indexes:
            state.held.add(a)
    outcome = state.allocate(R(**fields))
    if expected[0] == "refuse":
        assert isinstance(outcome, allocator.Refusal), outcome
        assert (outcome.reason, outcome.message) == expected[1:]
        assert outcome.reason in allocator.REASONS
        return
    assert isinstance(outcome, allocator.Decision), outcome
    got = [(a.pool, str(a.address), a.kept, a.shared) for a in outcome.assignments]
    want = [(t + (False, False))[:4] for t in expected[1]]
    assert got == want
    assert [str(a.address) for a in outcome.release] == expected[2]


def test_every_refusal_reason_is_covered_by_the_table():
    covered = {c[-1][1] for c in CASES if c[-1][0] == "refuse"}
    assert covered == allocator.REASONS


def test_allocate_changes_nothing():
    state = site.Site([PUBLIC], [HOLDER])
    before = (state.usage(), sorted(map(repr, state.held)))
    for _ in range(2):
        decision = state.allocate(R())
        assert isinstance(decision, allocator.Decision)
        assert decision.addresses() == ["192.0.2.0"]
    assert (state.usage(), sorted(map(repr, state.held))) == before


def test_refusal_rejects_unknown_reason():
    with pytest.raises(ValueError):
        allocator.Refusal("full", "nope")
