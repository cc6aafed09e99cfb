"""The Store mirror: changes from the load, the watch and this process's own txns
arrive out of order; the mirror keeps the newest of each key and derives free
indexes and ledgers that match."""

from __future__ import annotations

import ipaddress

from fedns.ipamstore import keys, state
from fedns.store import base
from ipam import ledger, pool

P = pool.Pool("p", "s", ("10.0.0.0/29",))
A, B = ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.0.0.2")


def kv(key: bytes, value: bytes, rev: int) -> base.KeyValue:
    return base.KeyValue(key, value, rev, rev, 1)


def put(key: bytes, value: bytes, rev: int) -> state.Change:
    return (key, kv(key, value, rev), rev)


def gone(key: bytes, rev: int) -> state.Change:
    return (key, None, rev)


def holder(service: str, addr, uid: str | None = None) -> ledger.Allocation:
    return ledger.Allocation("m", "ns", service, uid or service, "p", addr)


def hold(service: str, addr, rev: int, uid: str | None = None) -> state.Change:
    return put(keys.addr_key("p", addr), keys.addr_to_json([holder(service, addr, uid)]), rev)


def mirror() -> state.State:
    st = state.State({"m": "s"})
    st.load([kv(keys.pool_key("p"), keys.pool_to_json(P), 2)], revision=2)
    return st


def held(st: state.State) -> dict[str, str]:
    return {a.service: str(a.address) for a in st.ledger_of("s")}


def test_an_older_change_never_overwrites_a_newer_one():
    st = mirror()
    st.apply([hold("web", A, 10)])
    st.apply([gone(keys.addr_key("p", A), 8)])  # a delete from before the put
    assert held(st) == {"web": "10.0.0.1"}
    st.apply([gone(keys.addr_key("p", A), 12)])
    st.apply([hold("web", A, 11)])  # a put from before the delete
    assert held(st) == {} and st.indexes["p"].is_free(A)
    st.apply([hold("api", A, 13)])
    assert held(st) == {"api": "10.0.0.1"}


def test_the_full_load_is_a_floor_for_every_key():
    st = mirror()
    st.load([kv(keys.pool_key("p"), keys.pool_to_json(P), 2)], revision=20)
    st.apply([hold("web", A, 15)])  # already covered (and absent) in the load
    assert held(st) == {}


def test_tombstones_are_forgotten_once_the_watch_passes_them():
    st = mirror()
    st.apply([gone(keys.addr_key("p", A), 12)])
    assert st.known(keys.addr_key("p", A)) == 12
    st.watched(12)
    assert st.known(keys.addr_key("p", A)) == 2


def test_a_move_within_one_revision_leaves_one_address_per_owner():
    st = mirror()
    st.apply([hold("web", A, 10, uid="u")])
    # One txn: the new address written before the old one is deleted.
    st.apply([hold("web", B, 11, uid="u"), gone(keys.addr_key("p", A), 11)])
    assert held(st) == {"web": "10.0.0.2"}
    assert st.indexes["p"].is_free(A) and not st.indexes["p"].is_free(B)


def test_a_newer_record_wins_while_the_old_ones_delete_is_on_its_way():
    st = mirror()
    st.apply([hold("web", A, 10, uid="u")])
    st.apply([hold("web", B, 11, uid="u")])  # read back alone, before the watch catches up
    assert held(st) == {"web": "10.0.0.2"}
    assert not st.indexes["p"].is_free(A), "A stays taken until its delete arrives"
    st.apply([gone(keys.addr_key("p", A), 11)])
    assert st.indexes["p"].is_free(A) and held(st) == {"web": "10.0.0.2"}


def test_reservations_hide_addresses_until_the_txn_is_settled():
    st = mirror()
    assert st.indexes["p"].lowest_free(4) == ipaddress.ip_address("10.0.0.0")
    st.reserve("p", ipaddress.ip_address("10.0.0.0"))
    assert st.indexes["p"].lowest_free(4) == A
    st.unreserve("p", ipaddress.ip_address("10.0.0.0"))  # lost: free again
    assert st.indexes["p"].is_free(ipaddress.ip_address("10.0.0.0"))
    st.reserve("p", A)
    st.apply([hold("web", A, 10)])  # won: the record keeps it taken
    st.unreserve("p", A)
    assert not st.indexes["p"].is_free(A)


def test_a_pool_change_rebuilds_its_index_around_held_and_reserved_addresses():
    st = mirror()
    st.apply([hold("web", A, 10)])
    st.reserve("p", B)
    wider = pool.Pool("p", "s", ("10.0.0.0/28",))
    st.apply([put(keys.pool_key("p"), keys.pool_to_json(wider), 11)])
    free = st.indexes["p"]
    assert (free.capacity, free.used) == (16, 2)
    assert [p.name for p in st.site_pools("s")] == ["p"]


def test_an_unreadable_address_record_keeps_the_address_taken():
    st = mirror()
    st.apply([put(keys.addr_key("p", A), b"{not json", 10)])
    assert not st.indexes["p"].is_free(A)
    assert st.allocations() == []


def test_owner_records_index_services_for_release():
    st = mirror()
    record = keys.owner_to_json(holder("web", A, uid="u1"))
    st.apply([put(keys.owner_key("m", "u1", 4), record, 10)])
    assert st.services == {("m", "ns", "web"): {"u1"}}
    st.apply([gone(keys.owner_key("m", "u1", 4), 11)])
    assert st.services == {}
