"""The wire format: the hand-read query is what dnslib reads, odd packets are left to
dnslib, and responses are written byte for byte as dnslib's pack writes them."""

from __future__ import annotations

import ipaddress
import random
import struct

import dns.edns
import dns.message
import pytest
from dnslib import (
    AAAA,
    CNAME,
    EDNS0,
    MX,
    NS,
    PTR,
    RD,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSHeader,
    DNSLabel,
    DNSQuestion,
    DNSRecord,
    EDNSOption,
)
from dnslib.label import DNSLabelError

from fedns.dnsserver import wire
from tests.dnsserver import helpers, test_fuzz


def dnslib_query(data: bytes) -> wire.Query:
    return wire.from_dnslib(DNSRecord.parse(data))


def query(name: str, qtype: str = "A", **kwargs) -> bytes:
    message = dns.message.make_query(name, qtype, **kwargs)
    message.id = 0x1234
    return message.to_wire()


COMMON = [
    pytest.param(query("a.example.com.", use_edns=False), id="a-no-edns"),
    pytest.param(query("A.Example.COM.", "AAAA", use_edns=0, payload=1232), id="case-kept-edns"),
    pytest.param(query("_http._tcp.x.example.com.", "SRV", use_edns=0, want_dnssec=True),
                 id="srv-do-bit"),
    pytest.param(query("x.example.com.", use_edns=0, options=[
        dns.edns.ECSOption("10.1.0.0", 16), dns.edns.GenericOption(10, b"c" * 8)]),
        id="ecs-and-cookie"),
    pytest.param(query("x.example.com.", use_edns=1), id="edns-version-1"),
    pytest.param(query(".", "NS"), id="root-name"),
    pytest.param(query("*.example.com.", "ANY"), id="wildcard-any"),
    pytest.param(query("x.example.com.", "TYPE65280"), id="unknown-type"),
]


@pytest.mark.parametrize("data", COMMON)
def test_common_query_is_read_by_hand_as_dnslib_reads_it(data):
    fast = wire.parse_common(data)
    assert fast is not None
    assert fast == dnslib_query(data)


def _with(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


BASE = query("ab.example.com.", use_edns=False)
EDNS = query("ab.example.com.", use_edns=0)
QEND = 12 + len(b"\x02ab\x07example\x03com\x00") + 4  # the end of the question

ODD = [
    pytest.param(BASE[:12] + b"\x02ab\xc0\x0c" + BASE[QEND - 4:], id="pointer-in-name"),
    pytest.param(_with(BASE, 4, b"\x00\x02") + BASE[12:], id="two-questions"),
    pytest.param(_with(BASE, 4, b"\x00\x00"), id="no-question"),
    pytest.param(_with(BASE, 6, b"\x00\x01") + b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04"
                 + b"\x01\x02\x03\x04", id="answer-record"),
    pytest.param(_with(EDNS, 10, b"\x00\x02") + EDNS[QEND:], id="two-opts"),
    pytest.param(_with(BASE, 10, b"\x00\x01") + b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04"
                 + b"\x01\x02\x03\x04", id="additional-not-opt"),
    pytest.param(EDNS[:QEND] + b"\x01x" + EDNS[QEND + 1:], id="opt-owner-not-root"),
    pytest.param(BASE + b"\x00", id="trailing-byte"),
    pytest.param(EDNS + b"\x00\x00", id="trailing-after-opt"),
    pytest.param(BASE[:12] + b"\x02\xc3\xa9" + BASE[15:], id="utf8-label"),
    pytest.param(BASE[:12] + b"\x02\xff\xfe" + BASE[15:], id="label-not-utf8"),
    pytest.param(BASE[:QEND - 2], id="short-question"),
    pytest.param(EDNS[:-2] + struct.pack("!H", 4) + b"\x00\x0a\x00\x00", id="four-byte-option"),
    pytest.param(EDNS[:-2] + struct.pack("!H", 6) + b"\x00\x0a\x00\x08\x00\x00",
                 id="option-past-end"),
    pytest.param(EDNS[:-2] + struct.pack("!H", 9), id="opt-rdata-past-end"),
]


@pytest.mark.parametrize("data", ODD)
def test_odd_packets_are_left_to_dnslib(data):
    assert wire.parse_common(data) is None
    try:
        expected = dnslib_query(data)
    except Exception:  # noqa: BLE001 - dnslib's own error
        with pytest.raises(wire.BadPacket):
            wire.parse(data)
    else:
        assert wire.parse(data) == expected


@pytest.mark.parametrize("length", [0x40, 0x64, 0x80, 0xBF], ids=hex)
def test_reserved_label_types_are_bad_packets(length):
    """dnslib reads a length byte of 64-191 as a long label; no answer could echo it."""
    data = BASE[:12] + bytes((length,)) + b"a" * length + BASE[15:]
    assert wire.parse_common(data) is None
    with pytest.raises(wire.BadPacket):
        wire.parse(data)


@pytest.mark.parametrize("octets", [254, 255])
def test_question_name_of_up_to_255_octets_is_read_and_echoed(octets):
    data = helpers.long_query(octets)
    fast = wire.parse_common(data)
    assert fast is not None and fast == dnslib_query(data)
    question = fast.questions[0]
    assert wire.wire_length(question[0]) == octets
    # dnslib's check is on the text (len(b".".join(labels)) <= 253): the same limit
    assert len(b".".join(question[0])) == octets - 2
    expected = DNSRecord(DNSHeader(id=0x1234, bitmap=0x8503),
                         questions=[DNSQuestion(_label(question[0]), 1, 1)])
    assert wire.encode(wire.Response(0x1234, 0x8503, question)) == bytes(expected.pack())


A_RECORD = b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x01\x02\x03\x04"


@pytest.mark.parametrize("data", [
    pytest.param(helpers.long_query(256), id="256-octets"),
    pytest.param(helpers.long_query(257, first=b"a" * 63), id="257-octets-long-label"),
    pytest.param(helpers.long_query(256, first="\u00e9".encode()), id="256-octets-utf8-dnslib-reads"),
    pytest.param(helpers.long_query(256, additional=A_RECORD), id="256-octets-additional-dnslib-reads"),
])
def test_question_name_over_255_octets_is_a_bad_packet(data):
    # RFC 1035 §2.3.4: 255 octets at most.  dnslib reads such a name, but no response
    # could echo it (dnslib and wire.encode both refuse to write it).
    assert wire.parse_common(data) is None
    name = DNSRecord.parse(data).q.qname
    assert len(name) > 253
    with pytest.raises(wire.BadPacket):
        wire.parse(data)


def test_mutated_packets_read_by_hand_agree_with_dnslib():
    rng = random.Random(1)
    seeds = test_fuzz.seeds()
    accepted = 0
    for _ in range(20_000):
        data = test_fuzz.mutate(rng, rng.choice(seeds))
        fast = wire.parse_common(data)
        if fast is not None:
            accepted += 1
            assert fast == dnslib_query(data), data
    assert accepted > 1000  # the mutations keep many packets common


# --- writing -----------------------------------------------------------------------------


def _label(name: wire.Name) -> DNSLabel:
    return DNSLabel(name)


def to_dnslib(rr: wire.RR, rdata: object) -> RR:
    owner, rtype, ttl, _ = rr
    return RR(_label(owner), rtype, ttl=ttl, rdata=rdata)


def random_name(rng: random.Random, names: list[wire.Name]) -> wire.Name:
    if names and rng.random() < 0.5:
        base = rng.choice(names)
        base = base[rng.randrange(len(base) + 1):]
    else:
        base = (b"example", b"com")
    labels = [rng.choice([b"a", b"B", b"www", b"x" * rng.randrange(1, 64)])
              for _ in range(rng.randrange(3))]
    return (*labels, *base)


def random_record(rng: random.Random, names: list[wire.Name]) -> tuple[wire.RR, RR]:
    """One record as wire writes it and the same as a dnslib RR."""
    owner = random_name(rng, names)
    target = random_name(rng, names)
    names += [owner, target]
    ttl = rng.randrange(1 << 31)
    kind = rng.randrange(9)
    if kind == 0:
        packed = bytes(rng.randrange(256) for _ in range(4))
        return (owner, 1, ttl, (packed,)), to_dnslib((owner, 1, ttl, ()), A(".".join(map(str, packed))))
    if kind == 1:
        packed = bytes(rng.randrange(256) for _ in range(16))
        rr = (owner, 28, ttl, (packed,))
        return rr, to_dnslib(rr, AAAA(str(ipaddress.IPv6Address(packed))))
    if kind == 2:
        rr = (owner, 5, ttl, (target,))
        return rr, to_dnslib(rr, CNAME(_label(target)))
    if kind == 3:
        rr = (owner, 12, ttl, (target,))
        return rr, to_dnslib(rr, PTR(_label(target)))
    if kind == 4:
        rr = (owner, 2, ttl, (target,))
        return rr, to_dnslib(rr, NS(_label(target)))
    if kind == 5:
        rr = (owner, 15, ttl, (struct.pack("!H", 10), target))
        return rr, to_dnslib(rr, MX(_label(target), 10))
    if kind == 6:
        rr = (owner, 33, ttl, (struct.pack("!HHH", 1, 2, 3) + wire.plain_name(target),))
        return rr, to_dnslib(rr, SRV(1, 2, 3, _label(target)))
    if kind == 7:
        strings = [b"t" * rng.randrange(256) for _ in range(rng.randrange(1, 3))]
        rr = (owner, 16, ttl, (b"".join(bytes((len(s),)) + s for s in strings),))
        return rr, to_dnslib(rr, TXT(strings))
    times = (7, 7200, 1800, 86400, 30)
    rr = (owner, 6, ttl, (target, owner, struct.pack("!IIIII", *times)))
    return rr, to_dnslib(rr, SOA(_label(target), _label(owner), times))


@pytest.mark.parametrize("seed", range(40))
def test_responses_are_written_as_dnslib_packs_them(seed):
    rng = random.Random(seed)
    names: list[wire.Name] = []
    question = random_name(rng, names)
    names.append(question)
    count = rng.choice([1, 5, 40, 400])  # 400: past 16 KiB, where pointers wrap as dnslib's
    sections = [[random_record(rng, names) for _ in range(rng.randrange(count))] for _ in range(3)]
    opt = rng.random() < 0.5
    response = wire.Response(0x4321, 0x8500, (question, 1, 1), *[[w for w, _ in s] for s in sections],
                             opt=wire.opt_record(1232, 0x8000, [(8, b"\x00\x01\x18\x00\x0a\x01\x02")])
                             if opt else None)
    reply = DNSRecord(DNSHeader(id=0x4321, bitmap=0x8500),
                      questions=[DNSQuestion(_label(question), 1, 1)])
    reply.rr, reply.auth, reply.ar = ([d for _, d in s] for s in sections)
    if opt:
        reply.ar.append(EDNS0(udp_len=1232, flags="do",
                              opts=[EDNSOption(8, b"\x00\x01\x18\x00\x0a\x01\x02")]))
    assert wire.encode(response) == bytes(reply.pack())
    truncated = wire.encode(response, truncated=True)
    reply.header.tc = 1
    reply.rr, reply.auth, reply.ar = [], [], [rr for rr in reply.ar if rr.rtype == 41]
    assert truncated == bytes(reply.pack())


@pytest.mark.parametrize("name", [
    pytest.param((b"x" * 64, b"com"), id="label-over-63"),
    pytest.param(tuple([b"abcdefghi"] * 25) + (b"abcd",), id="name-of-256-octets"),
])
def test_names_dnslib_refuses_are_refused(name):
    assert wire.wire_length(name) > 255 or max(map(len, name)) > 63
    with pytest.raises(DNSLabelError):
        DNSRecord(DNSHeader(id=1), rr=[RR(_label(name), 1, rdata=A("192.0.2.1"))]).pack()
    with pytest.raises(wire.BadName):
        wire.encode(wire.Response(1, 0x8000, None, [(name, 1, 0, (b"\xc0\x00\x02\x01",))]))


def test_name_of_253_characters_255_octets_is_written():
    name = tuple([b"abcdefghi"] * 25) + (b"abc",)  # 25 * 10 + 3 = 253
    assert len(b".".join(name)) == 253 and wire.wire_length(name) == 255
    record = RR(_label(name), 1, rdata=A("192.0.2.1"))
    expected = bytes(DNSRecord(DNSHeader(id=1, bitmap=0x8000), rr=[record]).pack())
    assert wire.encode(wire.Response(1, 0x8000, None, [(name, 1, 0, (b"\xc0\x00\x02\x01",))])) == expected


def test_hinfo_raw_rdata():
    rr = ((b"x",), 13, 3600, (b"\x07RFC8482\x00",))
    expected = DNSRecord(DNSHeader(id=1, bitmap=0x8000),
                         rr=[RR(_label((b"x",)), 13, ttl=3600, rdata=RD(b"\x07RFC8482\x00"))])
    assert wire.encode(wire.Response(1, 0x8000, None, [rr])) == bytes(expected.pack())
