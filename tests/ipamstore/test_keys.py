"""The /fedns/ipam/ key layout and values: builders and parser are inverses."""

from __future__ import annotations

import ipaddress
import json

import pytest

from fedns.ipamstore import keys
from ipam import ledger, pool

V4 = ipaddress.ip_address("192.0.2.10")
V6 = ipaddress.ip_address("2001:db8::a")


@pytest.mark.parametrize("key, parsed", [
    (keys.pool_key("umich-v4"), keys.Parsed("pool", pool="umich-v4")),
    (keys.POOLSET, keys.Parsed("poolset")),
    (keys.lock_key("umich-v4"), keys.Parsed("lock", pool="umich-v4")),
    (keys.addr_key("umich-v4", V4), keys.Parsed("addr", pool="umich-v4", address=V4)),
    (keys.addr_key("v6", V6), keys.Parsed("addr", pool="v6", address=V6)),
    (keys.owner_key("umich", "5f0c-uid", 4),
     keys.Parsed("owner", member="umich", owner="5f0c-uid", family=4)),
    (keys.owner_key("odd/member", keys.owner_id("", "ns", "svc"), 6),
     keys.Parsed("owner", member="odd/member", owner="~ns/svc", family=6)),
], ids=["pool", "poolset", "lock", "addr-v4", "addr-v6", "owner", "owner-quoted"])
def test_keys_parse_back(key, parsed):
    assert key.startswith(keys.PREFIX)
    assert keys.parse_key(key) == parsed


def test_the_documented_key_shapes():
    assert keys.pool_key("p") == b"/fedns/ipam/pools/p"
    assert keys.addr_key("p", V6) == b"/fedns/ipam/addrs/p/2001:db8::a"
    assert keys.owner_key("m/1", "u", 4) == b"/fedns/ipam/owners/m%2F1/u/ipv4"


@pytest.mark.parametrize("key", [
    b"/fedns/ipam/pools/", b"/fedns/ipam/pools/a/b", b"/fedns/ipam/addrs/p/not-an-ip",
    b"/fedns/ipam/owners/m/u", b"/fedns/ipam/owners/m/u/ipv5", b"/fedns/ipam/other",
    b"/fedns/ipam/pools/\xff",
])
def test_foreign_keys_are_refused(key):
    with pytest.raises(keys.KeyInvalid):
        keys.parse_key(key)


def test_address_records_round_trip_every_holder():
    holders = [ledger.Allocation("m1", "ns", "dns-tcp", "u1", "p", V4, "dns", (("TCP", 53),)),
               ledger.Allocation("m1", "ns", "dns-udp", "u2", "p", V4, "dns", (("UDP", 53),))]
    data = keys.addr_to_json(holders)
    assert json.loads(data)["holders"][1] == {
        "member": "m1", "namespace": "ns", "service": "dns-udp", "uid": "u2",
        "sharingKey": "dns", "ports": [["UDP", 53]]}
    assert keys.addr_from_json("p", V4, data) == tuple(holders)


def test_owner_and_pool_records_round_trip():
    held = ledger.Allocation("m1", "ns", "web", "u1", "p", V6)
    record = keys.owner_from_json(keys.owner_to_json(held))
    assert record == keys.OwnerRecord("p", V6, "ns", "web", "u1")
    p = pool.Pool("p", "s", ("2001:db8::/64",), reserved=("2001:db8::1",),
                  namespace_selector={"team": "a"})
    assert keys.pool_from_json(keys.pool_to_json(p)) == p
