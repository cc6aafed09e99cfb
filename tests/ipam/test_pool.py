"""Pool validation: each bad input gives exactly one line naming the pool and field."""

from __future__ import annotations

import pytest

from fedns import errors as fedns_errors
from ipam import errors, pool

BASE = {"name": "umich-v4", "site": "umich", "addresses": ["10.0.0.0/24"]}


def with_(**changes):
    mapping = dict(BASE)
    for key, value in changes.items():
        if value is ...:
            mapping.pop(key, None)
        else:
            mapping[key] = value
    return mapping


BAD = [
    ("reversed-range", with_(addresses=["10.0.0.0/24", "10.0.1.5-10.0.1.1"]),
     'pool "umich-v4": addresses[1]: "10.0.1.5-10.0.1.1" is a reversed range'),
    ("host-bits", with_(addresses=["10.0.0.5/24"]),
     ('pool "umich-v4": addresses[0]: "10.0.0.5/24" has host bits set'
     " (did you mean 10.0.0.0/24?)")),
    ("host-bits-v6", with_(addresses=["2001:db8::1/64"]),
     ('pool "umich-v4": addresses[0]: "2001:db8::1/64" has host bits set'
     " (did you mean 2001:db8::/64?)")),
    ("everything-v4", with_(addresses=["0.0.0.0/0"]),
     'pool "umich-v4": addresses[0]: "0.0.0.0/0" includes 0.0.0.0/8 (\'this network\'), '
     "where no Service can be reached"),
    ("loopback", with_(addresses=["10.0.0.0/24", "127.0.0.1-127.0.0.9"]),
     'pool "umich-v4": addresses[1]: "127.0.0.1-127.0.0.9" includes 127.0.0.0/8 (loopback), where no Service can be reached'),
    ("multicast", with_(addresses=["239.1.1.0/24"]),
     'pool "umich-v4": addresses[0]: "239.1.1.0/24" includes 224.0.0.0/4 (multicast), where no Service can be reached'),
    ("everything-v6", with_(addresses=["::/0"]),
     'pool "umich-v4": addresses[0]: "::/0" includes :: (the unspecified address), '
     "where no Service can be reached"),
    ("link-local-v6", with_(addresses=["fe80::/64"]),
     'pool "umich-v4": addresses[0]: "fe80::/64" includes fe80::/10 (link-local), where no Service can be reached'),
    ("bad-prefix", with_(addresses=["10.0.0.0/33"]),
     'pool "umich-v4": addresses[0]: "10.0.0.0/33" is not a valid CIDR'),
    ("bad-cidr-address", with_(addresses=["10.0.0.256/24"]),
     'pool "umich-v4": addresses[0]: "10.0.0.256/24" is not a valid CIDR'),
    ("bad-range", with_(addresses=["10.0.0.1-banana"]),
     ('pool "umich-v4": addresses[0]: "10.0.0.1-banana" is not a valid range'
     " (expected FIRST-LAST, e.g. 192.0.2.10-192.0.2.20)")),
    ("three-part-range", with_(addresses=["10.0.0.1-10.0.0.2-10.0.0.3"]),
     ('pool "umich-v4": addresses[0]: "10.0.0.1-10.0.0.2-10.0.0.3" is not a valid range'
     " (expected FIRST-LAST, e.g. 192.0.2.10-192.0.2.20)")),
    ("mixed-family-range", with_(addresses=["10.0.0.1-2001:db8::1"]),
     'pool "umich-v4": addresses[0]: "10.0.0.1-2001:db8::1" mixes IPv4 and IPv6'),
    ("garbage", with_(addresses=["umich"]),
     'pool "umich-v4": addresses[0]: "umich" is not a valid CIDR, range or address'),
    ("leading-zeros", with_(addresses=["010.0.0.1"]),
     'pool "umich-v4": addresses[0]: "010.0.0.1" is not a valid CIDR, range or address'),
    ("scoped-v6", with_(addresses=["fe80::1%eth0"]),
     'pool "umich-v4": addresses[0]: "fe80::1%eth0" is not a valid CIDR, range or address'),
    ("overlap-within", with_(addresses=["10.0.0.0/24", "10.0.0.128/25"]),
     'pool "umich-v4": addresses[1]: "10.0.0.128/25" overlaps addresses[0] "10.0.0.0/24"'),
    ("unknown-field", with_(autoassign=True),
     'pool "umich-v4": autoassign: unknown field (did you mean autoAssign?)'),
    ("unknown-field-far", with_(colour="blue"),
     ('pool "umich-v4": colour: unknown field (known: name, site, addresses, reserved,'
     " avoidBuggyIPs, autoAssign, priority, namespaceSelector, serviceSelector, draining)")),
    ("missing-name", with_(name=...),
     "pool (unnamed): name: required field is missing"),
    ("missing-site", with_(site=...),
     'pool "umich-v4": site: required field is missing'),
    ("missing-addresses", with_(addresses=...),
     'pool "umich-v4": addresses: required field is missing'),
    ("empty-addresses", with_(addresses=[]),
     'pool "umich-v4": addresses: must list at least one CIDR or range'),
    ("addresses-string", with_(addresses="10.0.0.0/24"),
     'pool "umich-v4": addresses: expected a list of CIDRs or ranges, got "10.0.0.0/24"'),
    ("address-not-string", with_(addresses=["10.0.0.0/24", 5]),
     'pool "umich-v4": addresses[1]: expected a string, got 5'),
    ("name-not-string", with_(name=5),
     'pool (unnamed): name: expected a string, got 5'),
    ("name-uppercase", with_(name="UMich"),
     ('pool "UMich": name: "UMich" is not a valid name (lowercase letters, digits, \'-\''
     " and '.', starting and ending with a letter or digit)")),
    ("site-not-string", with_(site=["umich"]),
     'pool "umich-v4": site: expected a string, got ["umich"]'),
    ("bool-as-string", with_(autoAssign="yes"),
     'pool "umich-v4": autoAssign: expected true or false, got "yes"'),
    ("avoid-buggy-int", with_(avoidBuggyIPs=1),
     'pool "umich-v4": avoidBuggyIPs: expected true or false, got 1'),
    ("draining-string", with_(draining="no"),
     'pool "umich-v4": draining: expected true or false, got "no"'),
    ("priority-string", with_(priority="high"),
     'pool "umich-v4": priority: expected an integer, got "high"'),
    ("priority-bool", with_(priority=True),
     'pool "umich-v4": priority: expected an integer, got true'),
    ("reserved-outside", with_(reserved=["10.0.1.0/24"]),
     'pool "umich-v4": reserved[0]: "10.0.1.0/24" is not inside the pool\'s addresses'),
    ("reserved-partly-outside", with_(reserved=["10.0.0.250-10.0.1.5"]),
     ('pool "umich-v4": reserved[0]: "10.0.0.250-10.0.1.5" is not inside the pool\'s'
     " addresses")),
    ("reserved-reversed", with_(reserved=["10.0.0.9-10.0.0.1"]),
     'pool "umich-v4": reserved[0]: "10.0.0.9-10.0.0.1" is a reversed range'),
    ("reserved-string", with_(reserved="10.0.0.1"),
     'pool "umich-v4": reserved: expected a list of CIDRs or ranges, got "10.0.0.1"'),
    ("selector-flat", with_(namespaceSelector="team-a"),
     'pool "umich-v4": namespaceSelector: expected a mapping with matchLabels, got "team-a"'),
    ("selector-expressions", with_(serviceSelector={"matchExpressions": []}),
     'pool "umich-v4": serviceSelector.matchExpressions: not supported (use matchLabels)'),
    ("selector-unknown", with_(serviceSelector={"team": "a"}),
     'pool "umich-v4": serviceSelector.team: unknown field (known: matchLabels)'),
    ("selector-labels-list", with_(serviceSelector={"matchLabels": ["a"]}),
     'pool "umich-v4": serviceSelector.matchLabels: expected a mapping, got ["a"]'),
    ("selector-label-int", with_(namespaceSelector={"matchLabels": {"tier": 1}}),
     'pool "umich-v4": namespaceSelector.matchLabels.tier: expected a string, got 1'),
    ("not-a-mapping", ["umich-v4"],
     'pool: expected a mapping, got ["umich-v4"]'),
]


@pytest.mark.parametrize("mapping, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_pool_gives_one_line_naming_pool_and_field(mapping, message):
    with pytest.raises(errors.PoolInvalid) as caught:
        pool.from_dict(mapping)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, fedns_errors.UsageError)


GOOD = [
    ("cidr", ["192.0.2.0/24"], 1, ((4, 0xC0000200, 0xC00002FF),)),
    ("range", ["198.51.100.10-198.51.100.20"], 1, ((4, 0xC633640A, 0xC6336414),)),
    ("range-spaces", ["198.51.100.10 - 198.51.100.20"], 1, ((4, 0xC633640A, 0xC6336414),)),
    ("single-address", ["192.0.2.7"], 1, ((4, 0xC0000207, 0xC0000207),)),
    ("touching-merge", ["192.0.2.0/25", "192.0.2.128/25"], 1, ((4, 0xC0000200, 0xC00002FF),)),
    ("v6", ["2001:db8::/126"], 1,
     ((6, 0x20010DB8 << 96, (0x20010DB8 << 96) + 3),)),
    ("dual", ["2001:db8::/126", "192.0.2.0/31"], 2,
     ((4, 0xC0000200, 0xC0000201), (6, 0x20010DB8 << 96, (0x20010DB8 << 96) + 3))),
]


@pytest.mark.parametrize("addresses, families, ranges", [c[1:] for c in GOOD],
                         ids=[c[0] for c in GOOD])
def test_good_addresses_become_merged_integer_intervals(addresses, families, ranges):
    p = pool.from_dict(with_(addresses=addresses))
    assert len(p.families) == families
    assert p.ranges == ranges


def test_defaults_and_round_trip():
    p = pool.from_dict({**BASE, "reserved": ["10.0.0.1"], "avoidBuggyIPs": True,
                        "autoAssign": False, "priority": 5, "draining": True,
                        "namespaceSelector": {"matchLabels": {"team": "a"}},
                        "serviceSelector": {"matchLabels": {"tier": "gold"}}})
    assert (p.auto_assign, p.priority, p.namespace_selector) == (False, 5, {"team": "a"})
    assert pool.from_dict(pool.to_dict(p)) == p
    plain = pool.from_dict(BASE)
    assert (plain.reserved, plain.avoid_buggy_ips, plain.auto_assign, plain.priority,
            plain.has_selector, plain.draining) == ((), False, True, 0, False, False)
    assert pool.to_dict(plain) == {**BASE, "reserved": [], "avoidBuggyIPs": False,
                                   "autoAssign": True, "priority": 0, "draining": False}
    assert pool.from_dict({**BASE, "reserved": None}) == plain  # "reserved:" left empty


def test_direct_construction_is_validated_too():
    with pytest.raises(errors.PoolInvalid, match=r'^pool "x": addresses\[0\]: "10/8"'):
        pool.Pool(name="x", site="s", addresses=("10/8",))


EXCLUSION = [
    ("inside", "10.0.0.7", None),
    ("outside", "10.0.1.7", 'is not in pool "umich-v4"'),
    ("other-family", "2001:db8::1", 'is not in pool "umich-v4"'),
    ("reserved", "10.0.0.1", 'is reserved in pool "umich-v4"'),
    ("buggy-zero", "10.0.0.0", 'ends in .0 or .255 and pool "umich-v4" sets avoidBuggyIPs'),
    ("buggy-255", "10.0.0.255", 'ends in .0 or .255 and pool "umich-v4" sets avoidBuggyIPs'),
]


@pytest.mark.parametrize("text, why", [c[1:] for c in EXCLUSION], ids=[c[0] for c in EXCLUSION])
def test_exclusion_says_why_an_address_is_not_handed_out(text, why):
    import ipaddress
    p = pool.from_dict({**BASE, "reserved": ["10.0.0.1"], "avoidBuggyIPs": True})
    addr = ipaddress.ip_address(text)
    assert p.exclusion(addr.version, int(addr)) == why
    assert p.contains(addr.version, int(addr)) == (why is None)


def mk(name, site, *addresses):
    return pool.from_dict({"name": name, "site": site, "addresses": list(addresses)})


SETS = [
    ("overlap-same-site", [mk("b", "umich", "10.0.0.128-10.0.1.5"), mk("a", "umich", "10.0.0.0/24")],
     errors.PoolOverlap, 'pools "a" and "b" of site "umich" overlap at 10.0.0.128/25'),
    ("overlap-v6", [mk("a", "umich", "2001:db8::/64"), mk("b", "umich", "2001:db8::5")],
     errors.PoolOverlap, 'pools "a" and "b" of site "umich" overlap at 2001:db8::5'),
    ("overlap-range", [mk("a", "umich", "10.0.0.1-10.0.0.10"),
                       mk("b", "umich", "10.0.0.5-10.0.0.20")],
     errors.PoolOverlap, 'pools "a" and "b" of site "umich" overlap at 10.0.0.5-10.0.0.10'),
    ("duplicate-name", [mk("a", "umich", "10.0.0.0/24"), mk("a", "msu", "10.1.0.0/24")],
     errors.PoolDuplicate, 'pool "a": name: defined twice'),
]


@pytest.mark.parametrize("pools, error, message", [c[1:] for c in SETS], ids=[c[0] for c in SETS])
def test_validate_set_refuses(pools, error, message):
    with pytest.raises(error) as caught:
        pool.validate_set(pools)
    assert str(caught.value) == message
    assert isinstance(caught.value, fedns_errors.RefusedError)


def test_validate_set_allows_overlap_across_sites_and_families():
    pool.validate_set([mk("a", "umich", "10.0.0.0/24"), mk("b", "msu", "10.0.0.0/24"),
                       mk("c", "umich", "10.0.1.0/24", "2001:db8::/64"),
                       mk("d", "umich", "2001:db9::/64")])


def test_from_dicts_accepts_a_single_mapping_or_a_list():
    assert [p.name for p in pool.from_dicts(BASE)] == ["umich-v4"]
    assert len(pool.from_dicts([BASE, {**BASE, "name": "b", "site": "msu"}])) == 2
    with pytest.raises(errors.PoolInvalid, match="^pools: expected a list"):
        pool.from_dicts("umich")
    with pytest.raises(errors.PoolOverlap):
        pool.from_dicts([BASE, {**BASE, "name": "b"}])
