"""The response cache: a zone change drops exactly the answers that read what changed,
negative answers follow the SOA serial, and a cached answer always equals one computed
afresh."""

from __future__ import annotations

import random

import dns.message
import pytest

from fedns.dnsserver import answer, cache, server, settings, wire, zone

# --- the cache alone ---------------------------------------------------------------------


def test_change_drops_readers_of_the_key_and_its_parents_only():
    c = cache.ResponseCache(100, slots=2)
    reads = {
        "exact": [b"/skydns/com/example/a/b"],
        "parent": [b"/skydns/com/example/a"],
        "root": [b"/skydns"],
        "child": [b"/skydns/com/example/a/b/c"],
        "sibling": [b"/skydns/com/example/a/bc"],
        "other": [b"/skydns/com/example/x"],
        "nothing": [],
    }
    for slot in (0, 1):
        for name, paths in reads.items():
            c.put(slot, name, name.encode(), paths)
    c.changed([b"/skydns/com/example/a/b"])
    for slot in (0, 1):
        assert sorted(c.entries[slot]) == ["child", "nothing", "other", "sibling"]


def test_unknown_reads_drop_on_any_change_or_revision():
    c = cache.ResponseCache(100)
    c.put(0, "failed", b"x", None)
    c.put(0, "kept", b"y", [b"/skydns/a"])
    c.changed([b"/skydns/b"])
    assert list(c.entries[0]) == ["kept"]
    c.put(0, "failed", b"x", None)
    c.new_revision()
    assert list(c.entries[0]) == ["kept"]


def test_serial_is_patched_under_a_new_revision():
    c = cache.ResponseCache(100)
    response = b"head" + (7).to_bytes(4, "big") + b"tail"
    c.put(0, "neg", response, [b"/skydns/a"], serial_at=4, serial=7)
    assert c.get(0, "neg", 7) == response
    assert c.get(0, "neg", 9) == b"head" + (9).to_bytes(4, "big") + b"tail"
    c.changed([b"/skydns/a/x"])
    assert c.get(0, "neg", 9) is None


def test_limit_clears_everything():
    c = cache.ResponseCache(3)
    for i in range(3):
        c.put(0, i, b"r", [b"/skydns/a"])
    c.put(0, "new", b"r", [b"/skydns/b"])
    assert list(c.entries[0]) == ["new"] and len(c) == 1


# --- the server over a zone -------------------------------------------------------------

CONFIG = settings.Settings(zones=("example.com",))
RECORDS = {
    b"/skydns/com/example/svc/a/x": b'{"host":"192.0.2.1"}',
    b"/skydns/com/example/svc/a/y": b'{"host":"192.0.2.2"}',
    b"/skydns/com/example/svc/b": b'{"host":"192.0.2.3"}',
    b"/skydns/com/example/alias": b'{"host":"a.svc.example.com"}',
    b"/skydns/com/example/outside": b'{"host":"www.example.org"}',
    b"/skydns/com/example/srv/http": b'{"host":"target.example.com","port":80}',
    b"/skydns/com/example/target": b'{"host":"192.0.2.9"}',
    b"/skydns/com/example/dns/apex": b'{"host":"192.0.2.53"}',
}

QUERIES = {
    "name": ("a.svc.example.com.", "A"),
    "member": ("x.a.svc.example.com.", "A"),
    "other-member": ("y.a.svc.example.com.", "A"),
    "parent": ("svc.example.com.", "A"),
    "sibling": ("b.svc.example.com.", "A"),
    "cname-to-it": ("alias.example.com.", "A"),
    "nodata": ("a.svc.example.com.", "AAAA"),
    "nxdomain-below": ("new.a.svc.example.com.", "A"),
    "nxdomain-elsewhere": ("nothing.example.com.", "A"),
    "wildcard": ("*.svc.example.com.", "A"),
    "srv-glue": ("srv.example.com.", "SRV"),
    "apex": ("example.com.", "A"),  # reads apex.dns.example.com only, as it has keys
    "outside-cname": ("outside.example.com.", "A"),
    "refused": ("www.example.org.", "A"),
}


def make_zone(records: dict[bytes, bytes] = RECORDS) -> zone.Zone:
    z = zone.Zone()
    z.replace(records.items(), revision=10)
    return z


def packet(name: str, qtype: str) -> bytes:
    return dns.message.make_query(name, qtype, use_edns=False).to_wire()


def fresh(z: zone.Zone, data: bytes, transport: int = server.UDP) -> bytes:
    """The response computed without any cache."""
    response = server.Server(z, CONFIG).respond(data, "192.0.2.200", transport)
    assert response is not None
    return response


def recomputed(srv: server.Server, names: list[str]) -> set[str]:
    """Which of ``names`` the server answers without its cache (each checked against a
    fresh computation)."""
    out = set()
    for name in names:
        data = packet(*QUERIES[name])
        hits = srv.cache_hits
        assert srv.respond(data, "192.0.2.200", server.UDP) == fresh(srv.zone, data), name
        if srv.cache_hits == hits:
            out.add(name)
    return out


@pytest.mark.parametrize(("change", "dropped"), [
    pytest.param(("put", b"/skydns/com/example/svc/a/x", b'{"host":"192.0.2.7"}'),
                 {"name", "member", "parent", "cname-to-it", "nodata", "wildcard"},
                 id="member-of-a-name"),
    pytest.param(("put", b"/skydns/com/example/svc/a/new/z", b'{"host":"192.0.2.8"}'),
                 {"name", "parent", "cname-to-it", "nodata", "nxdomain-below", "wildcard"},
                 id="new-name-below"),
    pytest.param(("delete", b"/skydns/com/example/svc/b", b""),
                 {"sibling", "parent", "wildcard"}, id="delete-sibling"),
    pytest.param(("put", b"/skydns/com/example/target", b'{"host":"192.0.2.10"}'),
                 {"srv-glue"}, id="srv-target"),
    pytest.param(("put", b"/skydns/com/example/nothing", b'{"host":"192.0.2.11"}'),
                 {"nxdomain-elsewhere"}, id="nxdomain-name-created"),
    pytest.param(("put", b"/skydns/com/example/dns/apex/b", b'{"host":"192.0.2.54"}'),
                 {"apex"}, id="apex-record"),
    pytest.param(("put", b"/skydns/com/other", b'{"host":"192.0.2.12"}'), set(),
                 id="outside-the-zone"),
])
def test_zone_change_drops_exactly_the_answers_that_read_it(change, dropped):
    srv = server.Server(make_zone(), CONFIG)
    names = sorted(QUERIES)
    assert recomputed(srv, names) == set(names)  # the first time, everything is computed
    assert recomputed(srv, names) == set()
    how, key, value = change
    if how == "put":
        srv.zone.put(key, value)
    else:
        srv.zone.delete(key)
    assert recomputed(srv, names) == dropped


def test_new_revision_patches_negative_answers():
    srv = server.Server(make_zone(), CONFIG)
    names = ["nxdomain-elsewhere", "nodata", "name"]
    assert recomputed(srv, names) == set(names)
    srv.zone.revision = 11
    assert recomputed(srv, names) == set()  # equal to fresh answers: the serial moved on
    response = dns.message.from_wire(srv.respond(packet(*QUERIES["nodata"]), "", server.UDP))
    assert response.authority[0][0].serial == 11


def test_truncated_negative_answer_is_recomputed_under_a_new_revision():
    # A question this long with the SOA does not fit in 512 bytes: TC, no SOA to patch.
    long_name = ".".join(["n" * 55] * 4) + ".nothing.example.com."
    config = settings.Settings(zones=("example.com",), hostmaster=".".join(["h" * 59] * 4))
    srv = server.Server(make_zone(), config)
    data = packet(long_name, "A")
    first = srv.respond(data, "", server.UDP)
    assert dns.message.from_wire(first).flags & 0x0200
    srv.zone.revision = 11
    hits = srv.cache_hits
    assert srv.respond(data, "", server.UDP) == first  # the same bytes, but recomputed
    assert srv.cache_hits == hits


def test_relist_drops_everything():
    srv = server.Server(make_zone(), CONFIG)
    names = sorted(QUERIES)
    recomputed(srv, names)
    srv.zone.replace(RECORDS.items(), revision=12)
    assert recomputed(srv, names) == set(names)


def test_cached_answers_equal_fresh_ones_under_random_changes():
    rng = random.Random(3)
    z = make_zone()
    srv = server.Server(z, CONFIG)
    keys = [*RECORDS, b"/skydns/com/example/svc/a/new", b"/skydns/com/example/nothing",
            b"/skydns/com/example/alias/sub", b"/skydns/com/example/svc",
            b"/skydns/com/example/srv/http/x", b"/skydns/com/example"]
    values = [b'{"host":"192.0.2.%d"}' % i for i in range(1, 4)] + [
        b'{"host":"2001:db8::1"}', b'{"host":"a.svc.example.com"}', b'{"host":"svc.example.com"}',
        b'{"text":"t"}', b'{"host":1}', b'{"host":"target.example.com","port":81}']
    packets = [packet(name, qtype) for name, qtype in QUERIES.values()]
    packets += [dns.message.make_query(name, qtype, use_edns=0, payload=512).to_wire()
                for name, qtype in QUERIES.values()]
    hits = 0
    for _ in range(4000):
        roll = rng.random()
        if roll < 0.1:
            key = rng.choice(keys)
            if rng.random() < 0.3:
                z.delete(key)
            else:
                z.put(key, rng.choice(values))
        elif roll < 0.15:
            z.revision += 1
        else:
            data = rng.choice(packets)
            transport = rng.choice([server.UDP, server.TCP])
            before = srv.cache_hits
            assert srv.respond(data, "", transport) == fresh(z, data, transport)
            hits += srv.cache_hits - before
    assert hits > 1000  # the cache was used, not bypassed


def test_failure_while_answering_is_not_kept_past_a_change(monkeypatch, caplog):
    srv = server.Server(make_zone(), CONFIG)
    data = packet(*QUERIES["sibling"])
    real = answer.respond

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(answer, "respond", failing)
    assert dns.message.from_wire(srv.respond(data, "", server.UDP)).rcode() == 2  # SERVFAIL
    monkeypatch.setattr(answer, "respond", real)
    srv.zone.put(b"/skydns/com/example/unrelated", b'{"host":"192.0.2.1"}')
    assert srv.respond(data, "", server.UDP) == fresh(srv.zone, data)


def test_answer_records_the_paths_it_read():
    z = make_zone()
    query = wire.parse(packet("alias.example.com.", "A"))
    result = answer.respond(z, query, None, CONFIG)
    assert result.reads == [b"/skydns/com/example/alias", b"/skydns/com/example/svc/a"]
    assert not result.serial
    query = wire.parse(packet("nothing.example.com.", "A"))
    result = answer.respond(z, query, None, CONFIG)
    assert result.reads == [b"/skydns/com/example/nothing"] and result.serial
