"""The in-memory zone: prefix reads in etcd byte order, parsing once, applying events."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedns.dnsserver import zone


@pytest.mark.parametrize(("key", "value", "kind", "address"), [
    pytest.param(b"/skydns/com/x/a", b'{"host":"192.0.2.1"}', zone.A, "192.0.2.1", id="a"),
    pytest.param(b"/skydns/com/x/a", b'{"host":"::ffff:192.0.2.1"}', zone.A, "192.0.2.1",
                 id="mapped-v4-is-a"),
    pytest.param(b"/skydns/com/x/a", b'{"host":"2001:db8::1"}', zone.AAAA, "2001:db8::1", id="aaaa"),
    pytest.param(b"/skydns/com/x/a", b'{"host":"a.example.com"}', zone.CNAME, "", id="cname"),
    pytest.param(b"/skydns/com/x/a", b'{"text":"t"}', zone.TXT, "", id="txt"),
    pytest.param(b"/skydns/com/x/_a", b'{"host":"192.0.2.1"}', zone.SRV, "192.0.2.1",
                 id="underscore-leaf"),
    pytest.param(b"/skydns/com/x/a", b'{"host":1}', 0, "", id="broken"),
])
def test_record_kinds(key, value, kind, address):
    record = zone.parse_record(key, value)
    assert (record.kind, record.address) == (kind, address)
    assert bool(record.error) == (kind == 0)


def test_defaults_as_coredns():
    record = zone.parse_record(b"/skydns/x", b'{"host":"192.0.2.1"}')
    assert (record.ttl, record.priority) == (300, 10)


@dataclasses.dataclass
class KV:
    key: bytes
    value: bytes
    mod_revision: int
    lease: int = 0


@dataclasses.dataclass
class Kind:
    name: str


@dataclasses.dataclass
class Event:
    type: Kind
    kv: KV


def test_apply_put_delete_and_version():
    z = zone.Zone()
    z.apply([Event(Kind("PUT"), KV(b"/skydns/com/x/a", b'{"host":"192.0.2.1"}', 5)),
             Event(Kind("PUT"), KV(b"/other/key", b"{}", 6))])
    assert len(z) == 1 and z.revision == 6
    version = z.version
    z.apply([Event(Kind("DELETE"), KV(b"/skydns/com/x/a", b"", 7))])
    assert len(z) == 0 and z.version > version and z.revision == 7
    z.apply([Event(Kind("DELETE"), KV(b"/skydns/com/x/gone", b"", 8))])
    assert len(z) == 0


def test_prefix_is_a_path_not_a_string_prefix():
    z = zone.Zone("/skydns")
    z.put(b"/skydnsx/com/a", b"{}")
    z.put(b"/skydns", b"{}")
    assert len(z) == 0


def test_replace_relists():
    z = zone.Zone()
    z.put(b"/skydns/old", b"{}")
    z.replace([(b"/skydns/new", b'{"host":"192.0.2.1"}')], revision=42)
    assert [r.key for r in z.under(b"/skydns/")] == [b"/skydns/new"] and z.revision == 42


keys = st.lists(st.binary(min_size=0, max_size=4).map(lambda b: b"/skydns/" + b), max_size=40)


@given(keys, st.binary(max_size=3))
def test_under_matches_brute_force(all_keys, suffix):
    z = zone.Zone()
    for key in all_keys:
        z.put(key, b"{}")
    prefix = b"/skydns/" + suffix
    assert [r.key for r in z.under(prefix)] == sorted(k for k in set(all_keys)
                                                       if k.startswith(prefix))


def test_changed_since_lists_the_keys_put_or_deleted():
    z = zone.Zone()
    start = z.version
    z.put(b"/skydns/a", b"{}")
    z.put(b"/other/b", b"{}")  # outside the prefix: not a change
    middle = z.version
    z.put(b"/skydns/a", b'{"host":"192.0.2.1"}')
    z.delete(b"/skydns/a")
    z.delete(b"/skydns/never")  # nothing there: not a change
    assert z.changed_since(start) == [b"/skydns/a", b"/skydns/a", b"/skydns/a"]
    assert z.changed_since(middle) == [b"/skydns/a", b"/skydns/a"]
    assert z.changed_since(z.version) == []


def test_changed_since_cannot_tell_across_a_relist_or_past_its_memory():
    z = zone.Zone()
    z.put(b"/skydns/a", b"{}")
    before = z.version
    z.replace([(b"/skydns/b", b"{}")], revision=3)
    assert z.changed_since(before) is None
    after = z.version
    z.put(b"/skydns/c", b"{}")
    assert z.changed_since(after) == [b"/skydns/c"]
    keys = [b"/skydns/k%d" % i for i in range(zone.CHANGE_LOG + 1)]
    for key in keys:
        z.put(key, b"{}")
    assert z.changed_since(after) is None
    assert z.changed_since(z.version - 100) == keys[-100:]
    assert z.changed_since(z.version - 100, limit=99) is None
