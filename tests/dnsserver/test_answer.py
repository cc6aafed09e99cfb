"""answer() without sockets: CoreDNS's own etcd lookup tests, ported, and the edges
of EDNS, ECS and site matching."""

from __future__ import annotations

import dns.edns
import dns.message
import dns.rcode
import pytest
from dnslib import DNSRecord

from fedns.dnsserver import answer, settings, zone
from fedns.records import skydns
from tests.dnsserver.helpers import ask_answer as ask
from tests.dnsserver.helpers import sections

# plugin/etcd/lookup_test.go: the services (key written as a DNS name) ...
SERVICES = [
    ("a.server1.dev.region1.skydns.test.", skydns.Service(host="dev.server1", port=8080)),
    ("a.server1.prod.region1.skydns.test.", skydns.Service(host="10.0.0.1", port=8080)),
    ("b.server1.prod.region1.skydns.test.", skydns.Service(host="10.0.0.2", port=8080)),
    ("b.server6.prod.region1.skydns.test.", skydns.Service(host="::1", port=8080)),
    ("cname.prod.region1.skydns.test.", skydns.Service(host="unresolvable.skydns.test")),
    ("priority.skydns.test.", skydns.Service(host="priority.server1", priority=333, port=8080)),
    ("a.sub.region1.skydns.test.", skydns.Service(host="sub.server1")),
    ("b.sub.region1.skydns.test.", skydns.Service(host="sub.server2", port=80)),
    ("c.sub.region1.skydns.test.", skydns.Service(host="10.0.0.1", port=8080)),
    ("b.cname.skydns.test.", skydns.Service(host="a.cname.skydns.test")),
    ("a.cname.skydns.test.", skydns.Service(host="b.cname.skydns.test")),
    ("a.ns.dns.skydns.test.", skydns.Service(host="10.0.0.2")),
    ("b.ns.dns.skydns.test.", skydns.Service(host="10.0.0.3")),
    ("x.skydns_zonea.test.", skydns.Service(host="10.0.0.2")),
    ("y.skydns_zonea.test.", skydns.Service(host="10.0.0.3")),
    ("x.skydns_zoneb.test.", skydns.Service(host="10.0.0.2")),
    ("y.skydns_zoneb.test.", skydns.Service(host="10.0.0.3")),
    ("apex.dns.skydns_zoneb.test.", skydns.Service(host="10.0.0.4")),
    ("x.skydns_zonec.test.", skydns.Service(host="10.0.0.2")),
    ("y.skydns_zonec.test.", skydns.Service(host="10.0.0.3")),
    ("a1.apex.dns.skydns_zonec.test.", skydns.Service(host="10.0.0.4")),
    ("a2.apex.dns.skydns_zonec.test.", skydns.Service(host="10.0.0.5")),
    ("x.skydns_zoned.test.", skydns.Service(host="10.0.0.2")),
    ("y.skydns_zoned.test.", skydns.Service(host="10.0.0.3")),
    ("a1.apex.dns.skydns_zoned.test.", skydns.Service(host="10.0.0.4")),
    ("a2.apex.dns.skydns_zoned.test.", skydns.Service(host="10.0.0.5")),
    ("a3.apex.dns.skydns_zoned.test.", skydns.Service(host="2003::8:1")),
    ("a4.apex.dns.skydns_zoned.test.", skydns.Service(host="2003::8:2")),
    ("1.0.0.10.in-addr.arpa.", skydns.Service(host="reverse.example.com")),
]
ZONES = ("skydns.test.", "skydns_zonea.test.", "skydns_zoneb.test.", "skydns_zonec.test.",
         "skydns_zoned.test.", "in-addr.arpa.")
SOA = "skydns.test. 30 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. * 7200 1800 86400 30"

# ... and its expectations (SOA times are CoreDNS's 7200/1800/86400/30, as SOA() sets).
CASES = [
    ("a.server1.dev.region1.skydns.test.", "SRV", "NOERROR",
     {"a.server1.dev.region1.skydns.test. 300 IN SRV 10 100 8080 dev.server1."}, set(), set()),
    ("a.SERVer1.dEv.region1.skydns.tEst.", "SRV", "NOERROR",
     {"a.SERVer1.dEv.region1.skydns.tEst. 300 IN SRV 10 100 8080 dev.server1."}, set(), set()),
    ("doesnotexist.skydns.test.", "A", "NXDOMAIN", set(), {SOA}, set()),
    ("a.server1.prod.region1.skydns.test.", "A", "NOERROR",
     {"a.server1.prod.region1.skydns.test. 300 IN A 10.0.0.1"}, set(), set()),
    ("a.server1.prod.region1.skydns.test.", "SRV", "NOERROR",
     {"a.server1.prod.region1.skydns.test. 300 IN SRV 10 100 8080 a.server1.prod.region1.skydns.test."},
     set(), {"a.server1.prod.region1.skydns.test. 300 IN A 10.0.0.1"}),
    ("b.server6.prod.region1.skydns.test.", "AAAA", "NOERROR",
     {"b.server6.prod.region1.skydns.test. 300 IN AAAA ::1"}, set(), set()),
    ("server1.prod.region1.skydns.test.", "A", "NOERROR",
     {"server1.prod.region1.skydns.test. 300 IN A 10.0.0.1",
      "server1.prod.region1.skydns.test. 300 IN A 10.0.0.2"}, set(), set()),
    ("priority.skydns.test.", "SRV", "NOERROR",
     {"priority.skydns.test. 300 IN SRV 333 100 8080 priority.server1."}, set(), set()),
    ("sub.region1.skydns.test.", "SRV", "NOERROR",
     {"sub.region1.skydns.test. 300 IN SRV 10 33 0 sub.server1.",
      "sub.region1.skydns.test. 300 IN SRV 10 33 80 sub.server2.",
      "sub.region1.skydns.test. 300 IN SRV 10 33 8080 c.sub.region1.skydns.test."},
     set(), {"c.sub.region1.skydns.test. 300 IN A 10.0.0.1"}),
    ("cname.prod.region1.skydns.test.", "A", "NOERROR", set(), {SOA}, set()),
    ("*.region1.skydns.test.", "SRV", "NOERROR",
     {f"*.region1.skydns.test. 300 IN SRV 10 12 {p} {t}" for p, t in [
         (0, "sub.server1."), (0, "unresolvable.skydns.test."), (80, "sub.server2."),
         (8080, "a.server1.prod.region1.skydns.test."),
         (8080, "b.server1.prod.region1.skydns.test."),
         (8080, "b.server6.prod.region1.skydns.test."),
         (8080, "c.sub.region1.skydns.test."), (8080, "dev.server1.")]},
     set(),
     {"a.server1.prod.region1.skydns.test. 300 IN A 10.0.0.1",
      "b.server1.prod.region1.skydns.test. 300 IN A 10.0.0.2",
      "b.server6.prod.region1.skydns.test. 300 IN AAAA ::1",
      "c.sub.region1.skydns.test. 300 IN A 10.0.0.1"}),
    ("prod.any.skydns.test.", "SRV", "NOERROR",
     {f"prod.any.skydns.test. 300 IN SRV 10 25 {p} {t}" for p, t in [
         (0, "unresolvable.skydns.test."), (8080, "a.server1.prod.region1.skydns.test."),
         (8080, "b.server1.prod.region1.skydns.test."),
         (8080, "b.server6.prod.region1.skydns.test.")]},
     set(),
     {"a.server1.prod.region1.skydns.test. 300 IN A 10.0.0.1",
      "b.server1.prod.region1.skydns.test. 300 IN A 10.0.0.2",
      "b.server6.prod.region1.skydns.test. 300 IN AAAA ::1"}),
    ("a.cname.skydns.test.", "A", "NOERROR", set(), {SOA}, set()),
    ("a.server1.dev.region1.skydns.test.", "HINFO", "NOERROR", set(), {SOA}, set()),
    ("a.server1.nonexistent.region1.skydns.test.", "HINFO", "NXDOMAIN", set(), {SOA}, set()),
    ("skydns.test.", "SOA", "NOERROR", {SOA}, set(), set()),
    ("skydns.test.", "NS", "NOERROR",
     {"skydns.test. 300 IN NS a.ns.dns.skydns.test.", "skydns.test. 300 IN NS b.ns.dns.skydns.test."},
     set(), {"a.ns.dns.skydns.test. 300 IN A 10.0.0.2", "b.ns.dns.skydns.test. 300 IN A 10.0.0.3"}),
    ("a.skydns.test.", "NS", "NXDOMAIN", set(), {SOA}, set()),
    ("ns.dns.skydns.test.", "A", "NOERROR",
     {"ns.dns.skydns.test. 300 IN A 10.0.0.2", "ns.dns.skydns.test. 300 IN A 10.0.0.3"}, set(), set()),
    ("skydns_zonea.test.", "A", "NOERROR",
     {"skydns_zonea.test. 300 IN A 10.0.0.2", "skydns_zonea.test. 300 IN A 10.0.0.3"}, set(), set()),
    ("skydns_zoneb.test.", "A", "NOERROR", {"skydns_zoneb.test. 300 IN A 10.0.0.4"}, set(), set()),
    ("skydns_zonec.test.", "A", "NOERROR",
     {"skydns_zonec.test. 300 IN A 10.0.0.4", "skydns_zonec.test. 300 IN A 10.0.0.5"}, set(), set()),
    ("skydns_zoned.test.", "A", "NOERROR",
     {"skydns_zoned.test. 300 IN A 10.0.0.4", "skydns_zoned.test. 300 IN A 10.0.0.5"}, set(), set()),
    ("skydns_zoned.test.", "AAAA", "NOERROR",
     {"skydns_zoned.test. 300 IN AAAA 2003::8:1", "skydns_zoned.test. 300 IN AAAA 2003::8:2"},
     set(), set()),
    ("1.0.0.10.in-addr.arpa.", "PTR", "NOERROR",
     {"1.0.0.10.in-addr.arpa. 300 IN PTR reverse.example.com."}, set(), set()),
]


def make_zone(entries) -> zone.Zone:
    z = zone.Zone()
    for name, service in entries:
        z.put(skydns.name_to_key(name).encode(), service.to_json().encode())
    return z


COREDNS_ZONE = make_zone(SERVICES)
COREDNS_SETTINGS = settings.Settings(zones=ZONES)


@pytest.mark.parametrize(("name", "qtype", "rcode", "ans", "auth", "extra"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_coredns_lookup_cases(name, qtype, rcode, ans, auth, extra):
    response = ask(COREDNS_ZONE, COREDNS_SETTINGS, dns.message.make_query(name, qtype))
    assert sections(response) == (rcode, ans, auth, extra)


FED = make_zone([
    ("x.hello.default.f.svc.example.com.", skydns.Service(host="192.0.2.1")),
    ("y.hello.default.f.svc.example.com.", skydns.Service(host="192.0.2.2")),
    ("x.hello.default.f.svc.a.r.example.com.", skydns.Service(host="192.0.2.1")),
])
FED_SETTINGS = settings.Settings(zones=("example.com",), sites=(
    settings.Site.make("s", "r", "a", ["10.0.0.0/8", "2001:db8::/32"]),
    settings.Site.make("t", "r", "a", ["10.1.2.0/24"]),
))
GLOBAL = "hello.default.f.svc.example.com."


def ecs_query(ecs_option=None, name=GLOBAL):
    options = [ecs_option] if ecs_option is not None else []
    return dns.message.make_query(name, "A", use_edns=0, options=options)


@pytest.mark.parametrize(("client", "ecs", "ips", "scope"), [
    pytest.param(None, None, {"192.0.2.1", "192.0.2.2"}, None, id="no-client"),
    pytest.param("10.9.9.9", None, {"192.0.2.1"}, None, id="source-in-site"),
    pytest.param("192.0.2.99", None, {"192.0.2.1", "192.0.2.2"}, None, id="source-unknown"),
    pytest.param("10.9.9.9", ("192.0.2.0", 24), {"192.0.2.1", "192.0.2.2"}, 24,
                 id="ecs-overrides-source"),
    pytest.param(None, ("10.1.2.0", 24), {"192.0.2.1"}, 24, id="longest-subnet-scope"),
    pytest.param(None, ("10.0.0.0", 8), {"192.0.2.1"}, 24, id="source-too-short-scope-raised"),
    pytest.param(None, ("0.0.0.0", 0), {"192.0.2.1", "192.0.2.2"}, 0, id="source-zero"),
    pytest.param(None, ("8.0.0.0", 6), {"192.0.2.1", "192.0.2.2"}, 24, id="unknown-holds-sites"),
    pytest.param(None, ("2001:db8:1::", 48), {"192.0.2.1"}, 32, id="ipv6-client"),
])
def test_nearest_answers(client, ecs, ips, scope):
    option = dns.edns.ECSOption(ecs[0], ecs[1]) if ecs else None
    response = ask(FED, FED_SETTINGS, ecs_query(option), client)
    assert {rr.address for rrset in response.answer for rr in rrset} == ips
    got = [o.scopelen for o in response.options if isinstance(o, dns.edns.ECSOption)]
    assert got == ([] if scope is None else [scope])


@pytest.mark.parametrize("data", [
    pytest.param(b"\x00\x01\x18\x00\x0a\x01", id="short-address"),
    pytest.param(b"\x00\x01\x18\x00\x0a\x01\x02\x03", id="long-address"),
    pytest.param(b"\x00\x01\x10\x00\x0a\x01\x00", id="address-for-16-bits-has-3-bytes"),
    pytest.param(b"\x00\x01\x18\x05\x0a\x01\x02", id="nonzero-scope"),
    pytest.param(b"\x00\x03\x08\x00\x0a", id="unknown-family"),
    pytest.param(b"\x00\x01\x21\x00\x0a\x01\x02\x03\x04", id="prefix-too-long"),
    pytest.param(b"\x00\x01\x07\x00\x0b", id="bits-beyond-prefix"),
    pytest.param(b"\x00\x01", id="truncated"),
])
def test_malformed_ecs_is_formerr(data):
    option = dns.edns.GenericOption(8, data)
    response = ask(FED, FED_SETTINGS, ecs_query(option), "10.9.9.9")
    assert response.rcode() == dns.rcode.FORMERR


def test_do_bit_and_payload_in_opt():
    query = dns.message.make_query(GLOBAL, "A", use_edns=0, want_dnssec=True, payload=4000)
    response = ask(FED, FED_SETTINGS, query)
    assert response.edns == 0 and response.ednsflags & dns.flags.DO and response.payload == 1232


def test_two_opt_records_is_formerr():
    request = DNSRecord.parse(ecs_query().to_wire())
    request.ar.append(request.ar[0])
    reply = answer.answer(FED, request, None, FED_SETTINGS)
    assert reply.header.rcode == answer.FORMERR


def test_nearest_ignores_broken_tier_and_other_types():
    z = make_zone([("x.hello.default.f.svc.example.com.", skydns.Service(host="2001:db8::1"))])
    z.put(b"/skydns/com/example/r/a/svc/f/default/hello/x", b"{not json")
    response = ask(z, FED_SETTINGS, dns.message.make_query(GLOBAL, "AAAA"), "10.9.9.9")
    assert sections(response)[:2] == ("NOERROR", {f"{GLOBAL} 300 IN AAAA 2001:db8::1"})


def test_group_limits_answer():
    # msg.Group: the shortest keys carry group "g", so a "h" service is left out.
    z = make_zone([
        ("a.grp.example.com.", skydns.Service(host="192.0.2.1", group="g")),
        ("b.x.grp.example.com.", skydns.Service(host="192.0.2.2", group="h")),
        ("c.x.grp.example.com.", skydns.Service(host="192.0.2.3")),
    ])
    response = ask(z, FED_SETTINGS, dns.message.make_query("grp.example.com.", "A"))
    assert {rr.address for rrset in response.answer for rr in rrset} == {"192.0.2.1", "192.0.2.3"}


def test_txt_split_in_255_byte_strings():
    z = make_zone([("t.example.com.", skydns.Service(text="x" * 300))])
    response = ask(z, FED_SETTINGS, dns.message.make_query("t.example.com.", "TXT"))
    assert [len(s) for rrset in response.answer for rr in rrset for s in rr.strings] == [255, 45]


def _chain(cnames: int, end: skydns.Service) -> zone.Zone:
    """c0 CNAME c1 ... CNAME c<cnames>, which holds ``end``."""
    links = [(f"c{i}.example.com.", skydns.Service(host=f"c{i + 1}.example.com"))
             for i in range(cnames)]
    return make_zone([*links, (f"c{cnames}.example.com.", end)])


# CoreDNS 1.12.1 and later (plugin/backend_lookup.go maxCnameChainLength = 10): a CNAME
# is added while at most 10 precede it, so chains of up to 11 CNAMEs are answered and
# a longer one ends in NODATA.
@pytest.mark.parametrize("qtype", ["A", "AAAA", "TXT"])
@pytest.mark.parametrize(("cnames", "answered"), [
    (1, True), (8, True), (9, True), (10, True), (11, True), (12, False), (15, False),
], ids=lambda v: str(v))
def test_cname_chain_depth_is_limited(qtype, cnames, answered):
    end = {"A": skydns.Service(host="192.0.2.1"), "AAAA": skydns.Service(host="2001:db8::1"),
           "TXT": skydns.Service(text="end")}[qtype]
    response = ask(_chain(cnames, end), FED_SETTINGS, dns.message.make_query("c0.example.com.",
                                                                            qtype))
    rcode, answers, authority, _ = sections(response)
    assert rcode == "NOERROR"
    if answered:
        assert len(answers) == cnames + 1 and not authority
    else:
        assert answers == set() and len(authority) == 1  # NODATA with the SOA


@pytest.mark.parametrize(("name", "qtype", "rcode"), [
    ("example.com.", "A", "NOERROR"),
    ("example.com.", "MX", "NOERROR"),
    ("example.com.", "HINFO", "NOERROR"),
    ("ns.dns.example.com.", "TXT", "NOERROR"),
    ("ns.dns.example.com.", "AAAA", "NOERROR"),
    ("other.example.com.", "A", "NXDOMAIN"),
])
def test_empty_zone_apex_and_ns_names_exist(name, qtype, rcode):
    response = ask(zone.Zone(), FED_SETTINGS, dns.message.make_query(name, qtype))
    assert sections(response) == (rcode, set(), {
        "example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. * 7200 1800 86400 30"},
        set())


EMPTY_SOA = "example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. * 7200 1800 86400 30"


@pytest.mark.parametrize(("qtype", "want"), [
    ("SOA", EMPTY_SOA), ("NS", "example.com. 300 IN NS ns.dns.example.com."),
])
def test_empty_zone_still_has_soa_and_ns(qtype, want):
    response = ask(zone.Zone(), FED_SETTINGS, dns.message.make_query("example.com.", qtype))
    assert sections(response)[:2] == ("NOERROR", {want})
