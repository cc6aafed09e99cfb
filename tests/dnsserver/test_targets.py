"""Target names no DNS message can carry (over 255 octets in UTF-8, or an address at a
key that deep): the answers leave them out (CoreDNS fails to write such responses),
the other records are answered as before, and the zone logs each such key once as it
arrives, never per query and never as an error."""

from __future__ import annotations

import logging

import dns.message
import dns.name
import pytest

from fedns.dnsserver import names, settings, zone
from tests.dnsserver import helpers
from tests.dnsserver.helpers import ask_answer as ask
from tests.dnsserver.helpers import sections

CONFIG = settings.Settings(zones=("example.com",))
SOA = "example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. * 7200 1800 86400 30"

E31 = "\u00e9" * 31  # 31 characters, 62 octets in UTF-8: a label that fits
# 140 characters (the old check counted these) but 265 octets on the wire.
LONG = f"{E31}.{E31}.{E31}.{E31}.example.com."
# 255 octets on the wire exactly: still a name.
FIT = f"aa{chr(0xe9) * 25}.{E31}.{E31}.{E31}.example.com."
FIT_TEXT = dns.name.Name([label.encode() for label in FIT.split(".")]).to_text()  # escaped
DEEP = "b" * 60  # four of these under deep.example.com make a 262-octet name


def key(name: str) -> bytes:
    """The /skydns key of ``name`` (labels reversed; UTF-8 kept as it is)."""
    return ("/skydns/" + "/".join(reversed(name.rstrip(".").split(".")))).encode()


def value(host: str, **fields: object) -> bytes:
    extra = "".join(f',"{k}":{str(v).lower()}' for k, v in fields.items())
    return f'{{"host":"{host}"{extra}}}'.encode()


RECORDS = [
    # (a) a host of 140 characters and 265 octets: as a CNAME chased inside the zone
    # (its target has an address), outside it, and as SRV, MX, TXT, CNAME, PTR targets
    (key("x.chase.example.com"), value(LONG)),
    (key("y.chase.example.com"), value("192.0.2.1")),
    (key(LONG), value("192.0.2.7")),
    (key("x.out.example.com"), value(LONG.replace("example.com", "example.org"))),
    (key("y.out.example.com"), value("192.0.2.2")),
    (key("x.srv.example.com"), value(LONG, port=80)),
    (key("y.srv.example.com"), value("ok.example.com", port=80)),
    (key("x.mx.example.com"), value(LONG, mail=True)),
    (key("y.mx.example.com"), value("ok.example.com", mail=True)),
    (key("ok.example.com"), value("192.0.2.3")),
    (key("exact.example.com"), value(LONG)),
    # a host of exactly 255 octets is still a name
    (key("fit.example.com"), value(FIT)),
    (key(FIT), value("192.0.2.5")),
    # (b) an address at a key whose name is 262 octets, next to one at a short key
    (key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.deep.example.com"), value("192.0.2.9", port=80, mail=True)),
    (key("ok.deep.example.com"), value("192.0.2.8", port=80, mail=True)),
    # ... and one whose targetstrip makes its name short enough
    (key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.strip.example.com"),
     value("192.0.2.6", port=80, mail=True, targetstrip=4)),
    # ... and the apex NS from ns.dns keys, one of them that deep
    (key("a.ns.dns.example.com"), value("192.0.2.53")),
    (key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.ns.dns.example.com"), value("192.0.2.54")),
]
UNWRITABLE = {key("x.chase.example.com"), key(LONG), key("x.out.example.com"),
              key("x.srv.example.com"), key("x.mx.example.com"), key("exact.example.com"),
              key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.deep.example.com"),
              key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.ns.dns.example.com")}


def make_zone() -> zone.Zone:
    z = zone.Zone()
    for k, v in RECORDS:
        z.put(k, v)
    return z


def rr(owner: str, text: str, ttl: int = 300) -> str:
    return f"{owner} {ttl} IN {text}"


SRV_OK = rr("srv.example.com.", "SRV 10 50 80 ok.example.com.")
CASES = [
    pytest.param("chase.example.com.", "A", {rr("chase.example.com.", "A 192.0.2.1")}, set(),
                 id="a-cname-chased-in-zone"),
    pytest.param("out.example.com.", "A", {rr("out.example.com.", "A 192.0.2.2")}, set(),
                 id="a-cname-out-of-zone"),
    pytest.param("chase.example.com.", "TXT", set(), set(), id="txt-cname"),
    pytest.param("srv.example.com.", "SRV", {SRV_OK}, {rr("ok.example.com.", "A 192.0.2.3")},
                 id="srv-host"),
    pytest.param("mx.example.com.", "MX", {rr("mx.example.com.", "MX 10 ok.example.com.")},
                 {rr("ok.example.com.", "A 192.0.2.3")}, id="mx-host"),
    pytest.param("exact.example.com.", "CNAME", set(), set(), id="cname"),
    pytest.param("exact.example.com.", "PTR", set(), set(), id="ptr"),
    pytest.param("fit.example.com.", "A",
                 {rr("fit.example.com.", f"CNAME {FIT_TEXT}"), rr(FIT_TEXT, "A 192.0.2.5")},
                 set(), id="a-cname-of-255-octets-chased"),
    pytest.param("deep.example.com.", "SRV", {rr("deep.example.com.", "SRV 10 50 80 ok.deep.example.com.")},
                 {rr("ok.deep.example.com.", "A 192.0.2.8")}, id="srv-deep-key"),
    pytest.param("deep.example.com.", "MX", {rr("deep.example.com.", "MX 10 ok.deep.example.com.")},
                 {rr("ok.deep.example.com.", "A 192.0.2.8")}, id="mx-deep-key"),
    pytest.param("deep.example.com.", "A",
                 {rr("deep.example.com.", "A 192.0.2.8"), rr("deep.example.com.", "A 192.0.2.9")},
                 set(), id="a-deep-key-answers-as-before"),
    pytest.param("strip.example.com.", "SRV",
                 {rr("strip.example.com.", "SRV 10 100 80 strip.example.com.")},
                 {rr("strip.example.com.", "A 192.0.2.6")}, id="srv-deep-key-stripped"),
    pytest.param("example.com.", "NS", {rr("example.com.", "NS a.ns.dns.example.com.")},
                 {rr("a.ns.dns.example.com.", "A 192.0.2.53")}, id="ns-deep-key"),
]


@pytest.mark.parametrize(("name", "qtype", "ans", "extra"), CASES)
def test_unwritable_targets_are_left_out(name, qtype, ans, extra):
    response = ask(make_zone(), CONFIG, dns.message.make_query(name, qtype))
    assert sections(response) == ("NOERROR", ans, set() if ans else {SOA}, extra)


@pytest.mark.parametrize(("host", "ok"), [
    pytest.param("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61, True,
                 id="ascii-255-octets"),
    pytest.param("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 62, False,
                 id="ascii-256-octets"),
    pytest.param(FIT, True, id="utf8-255-octets"),
    pytest.param(LONG, False, id="utf8-265-octets-140-characters"),
    pytest.param("\u00e9" * 32 + ".example.com", False, id="utf8-label-64-octets"),
    pytest.param("a..example.com", False, id="empty-label"),
    pytest.param("\ud800.example.com", False, id="lone-surrogate"),
])
def test_parse_host_counts_octets(host, ok):
    assert (names.parse_host(host) is not None) is ok


@pytest.mark.parametrize(("key_", "strip", "ok"), [
    pytest.param(key("ok.deep.example.com"), 0, True, id="short"),
    pytest.param(key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.deep.example.com"), 0, False, id="262-octets"),
    pytest.param(key(f"{DEEP}.{DEEP}.{DEEP}.{DEEP}.deep.example.com"), 1, True, id="stripped"),
    pytest.param(key(f"{'b' * 53}.{DEEP}.{DEEP}.{DEEP}.deep.example.com"), 0, True,
                 id="255-octets"),
    pytest.param(b"/skydns/com/example/" + b"x" * 64, 0, False, id="label-64-octets"),
    pytest.param(b"/skydns/com/example//x", 0, False, id="empty-label"),
])
def test_key_name_is_none_when_no_message_can_carry_it(key_, strip, ok):
    assert (names.key_name(b"/skydns", key_, strip) is not None) is ok


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("fedns.dnsserver") and r.levelno == logging.WARNING]


def test_zone_warns_once_per_key_as_it_arrives_not_per_query(caplog):
    caplog.set_level(logging.WARNING, logger="fedns.dnsserver")
    z = make_zone()
    warned = _warnings(caplog)
    assert sorted(m.split(": ")[0] for m in warned) == sorted(k.decode() for k in UNWRITABLE)
    caplog.clear()
    for case in CASES:
        ask(z, CONFIG, dns.message.make_query(case.values[0], case.values[1]))
    z.put(key("y.chase.example.com"), value("192.0.2.10"))  # a good value: nothing to say
    assert _warnings(caplog) == []
    z.put(key("x.srv.example.com"), value(LONG, port=81))  # a new bad value: said again
    assert len(_warnings(caplog)) == 1


async def test_unwritable_targets_over_udp_log_no_error(caplog):
    # Before: each query that reached one of these failed in the encoder and was
    # logged at ERROR with a traceback.  Now: answered without them; each key is
    # logged once, as a warning, when the zone loads it.
    caplog.set_level(logging.WARNING, logger="fedns.dnsserver")
    async with helpers.memory_store() as store:
        for k, v in RECORDS:
            await store.put(k, v)
        async with helpers.serving(store, CONFIG) as port:
            for _ in range(2):
                for case in CASES:
                    name, qtype, ans, extra = case.values
                    for owner in (name, name.upper()):  # the upper case misses the cache
                        got = await helpers.ask_dnspython(port, helpers.Query(owner, qtype))
                        assert got.rcode == "NOERROR", case.id
                        if owner == name:
                            assert (got.answer, got.additional) == (ans, extra), case.id
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(_warnings(caplog)) == len(UNWRITABLE)
