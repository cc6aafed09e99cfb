"""Hostile queries built field by field (hypothesis): every one is answered with a
message dnspython reads, or dropped, none logs an internal failure, and none gets
SERVFAIL but those that reach the zone's one broken record.  A question label whose
length byte is 64-191 (the reserved label types) gets FORMERR.

The server's :meth:`Server.respond` is called directly (no sockets): it is what the
UDP and TCP paths call for every packet the cache does not answer."""

from __future__ import annotations

import asyncio
import logging
import struct

import dns.message
import dns.rcode
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fedns.dnsserver import server as server_mod
from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import zone as zone_mod
from tests.dnsserver import helpers

CONFIG = settings_mod.Settings(zones=("example.com", "2.0.192.in-addr.arpa"),
                               sites=(settings_mod.Site.make("lo", "mw", "b", ["127.0.0.0/8"]),))
HEADER = struct.Struct("!HHHHHH")


async def _records() -> tuple[list[tuple[bytes, bytes]], int]:
    async with helpers.memory_store() as store:
        await helpers.write_federation(store)
        await store.put(b"/skydns/com/example/broken", b'{"host":1}')
        listing = await store.range(b"/skydns/")
        return [(kv.key, kv.value) for kv in listing.kvs], listing.revision


def _server() -> server_mod.Server:
    items, revision = asyncio.run(_records())
    zone = zone_mod.Zone()
    zone.replace(items, revision)
    return server_mod.Server(zone, CONFIG)


SERVER = _server()


class _Errors(logging.Handler):
    """Collects ERROR records of the DNS server's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _label(data: bytes) -> bytes:
    return bytes((len(data),)) + data


NAMES = [b"hello", b"default", b"myfed", b"svc", b"example", b"com", b"umich", b"_http",
         b"_tcp", b"*", b"any", b"in-addr", b"arpa", b"2", b"0", b"192", b"10", b"broken"]

label = st.one_of(
    st.sampled_from(NAMES).map(_label),
    st.binary(min_size=1, max_size=63).map(_label),
    # a length byte of any value followed by whatever: reserved types, pointers, lies
    st.tuples(st.integers(1, 255), st.binary(max_size=80)).map(lambda t: bytes((t[0],)) + t[1]),
    st.integers(0, 0x3FFF).map(lambda p: struct.pack("!H", 0xC000 | p)),
)
qname = st.one_of(
    st.lists(label, max_size=8).map(lambda labels: b"".join(labels) + b"\x00"),
    st.lists(label, max_size=8).map(b"".join),  # no root label
    st.builds(lambda n: b"\x01a" * n + b"\x07example\x03com\x00", st.integers(110, 130)),
)
qtypes = st.one_of(st.sampled_from([1, 2, 5, 6, 12, 13, 15, 16, 28, 33, 41, 251, 252, 255]),
                   st.integers(0, 0xFFFF))
ecs = st.tuples(st.sampled_from([0, 1, 2, 3]), st.integers(0, 130), st.integers(0, 130),
                st.binary(max_size=17)).map(
    lambda t: struct.pack("!HBB", t[0], t[1] & 0xFF, t[2] & 0xFF) + t[3])
option = st.one_of(st.tuples(st.just(8), ecs),
                   st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=20)))
opt_record = st.builds(
    lambda owner, payload, ttl, options: owner + struct.pack("!HHIH", 41, payload, ttl, sum(
        4 + len(d) for _, d in options)) + b"".join(struct.pack("!HH", c, len(d)) + d
                                                    for c, d in options),
    st.sampled_from([b"\x00", b"\x01a\x00", b"\xc0\x0c"]), st.integers(0, 0xFFFF),
    st.sampled_from([0, 0x8000, 0x00010000, 0x01000000]) | st.integers(0, 0xFFFFFFFF),
    st.lists(option, max_size=3))


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    questions = draw(st.lists(st.tuples(qname, qtypes, st.sampled_from([1, 3, 254, 255])
                                        | st.integers(0, 0xFFFF)), max_size=2))
    additional = draw(st.lists(opt_record, max_size=2))
    counts = (len(questions), 0, 0, len(additional))
    if draw(st.booleans()):  # counts that lie
        counts = draw(st.tuples(*[st.sampled_from([0, 1, 2, 255, 0xFFFF])] * 4))
    flags = draw(st.integers(0, 0xFFFF)) & 0x7FFF  # queries (QR clear): the answer path
    body = b"".join(name + struct.pack("!HH", t, c) for name, t, c in questions)
    trailing = draw(st.binary(max_size=8)) if draw(st.booleans()) else b""
    return HEADER.pack(draw(st.integers(0, 0xFFFF)), flags, *counts) + body \
        + b"".join(additional) + trailing


def _query(name: bytes, qtype: int = 1) -> bytes:
    return HEADER.pack(0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, 1)


BAD_LABELS = {
    "length-0x64": _query(b"\x64" + b"a" * 100 + b"\x07example\x03com\x00"),
    "length-0x40": _query(b"\x07example\x40" + b"b" * 64 + b"\x03com\x00"),
    "length-0xbf": _query(b"\xbf" + b"c" * 191 + b"\x03com\x00"),
    "length-0x80-in-zone": _query(b"\x80" + b"d" * 128 + b"\x07example\x03com\x00", 28),
}
BAD_LABELS["length-0x41-with-edns"] = (
    HEADER.pack(0x1234, 0x0100, 1, 0, 0, 1) + b"\x41" + b"e" * 65 + b"\x00"
    + struct.pack("!HH", 1, 1) + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0))


def _respond(packet: bytes) -> bytes | None:
    errors = _Errors()
    logger = logging.getLogger("fedns.dnsserver")
    logger.addHandler(errors)
    try:
        udp = SERVER.respond(packet, "127.0.0.1", server_mod.UDP)
        tcp = SERVER.respond(packet, "127.0.0.1", server_mod.TCP)
    finally:
        logger.removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []
    assert (udp is None) == (tcp is None)
    return udp


@pytest.mark.parametrize("packet", BAD_LABELS.values(), ids=BAD_LABELS.keys())
def test_a_reserved_label_type_is_formerr(packet):
    reply = _respond(packet)
    assert reply is not None
    assert dns.rcode.to_text(dns.message.from_wire(reply).rcode()) == "FORMERR"


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets())
@example(_query(b"\x64" + b"a" * 100 + b"\x07example\x03com\x00"))
def test_every_answer_parses_and_nothing_fails_inside(packet):
    reply = _respond(packet)
    if reply is None:
        assert len(packet) < 12 or packet[2] & 0x80
        return
    message = dns.message.from_wire(reply, ignore_trailing=False)
    assert message.id == struct.unpack_from("!H", packet)[0]
    assert dns.rcode.to_text(message.rcode()) != "SERVFAIL" or b"broken" in packet.lower()
