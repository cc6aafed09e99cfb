"""Compatibility: for records fedns writes, the embedded server gives the answers
CoreDNS's etcd plugin gives for the same keys.

The sample federation has three members in two regions (umich in mw/a, msu in mw/b,
ucsd in west/c, ucsd unhealthy).  Each expected answer below is derived from the
CoreDNS source (plugin/etcd/etcd.go ``get``/``loopNodes``, plugin/backend_lookup.go
``A``/``AAAA``/``SRV``/``CNAME``, plugin/etcd/handler.go), as the comment says.  The
server runs with no sites, as CoreDNS has no nearest answers.
"""

from __future__ import annotations

import pytest

from fedns.dnsserver import settings
from fedns.records import desired
from tests.dnsserver import helpers
from tests.dnsserver.helpers import GLOBAL as G
from tests.dnsserver.helpers import Query

MW = "hello.default.myfed.svc.mw.example.com."
WEST = "hello.default.myfed.svc.west.example.com."
ZA = "hello.default.myfed.svc.a.mw.example.com."
ZB = "hello.default.myfed.svc.b.mw.example.com."
ZC = "hello.default.myfed.svc.c.west.example.com."
SRV = "_http._tcp." + G
SOA = "example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. * 7200 1800 86400 30"


def a(owner, *ips, ttl=30):
    return {f"{owner} {ttl} IN {'AAAA' if ':' in ip else 'A'} {ip}" for ip in ips}


CASES = [
    # get(): prefix ".../hello/" holds the member leaves and the _tcp/_http SRV leaves;
    # their last label is not "_...", so HostType() says A/AAAA, and A() drops a host
    # already answered: the SRV leaves add nothing.
    pytest.param(Query(G), "NOERROR", a(G, "192.0.2.10", "198.51.100.5"), set(), id="global-a"),
    pytest.param(Query(G, "AAAA"), "NOERROR", a(G, "2001:db8::10"), set(), id="global-aaaa"),
    pytest.param(Query(MW), "NOERROR", a(MW, "192.0.2.10", "198.51.100.5"), set(), id="region-a"),
    # no healthy target in west: the exact key holds a CNAME to the global name, which
    # A() chases inside the zone and adds with the target's addresses.
    pytest.param(Query(WEST), "NOERROR",
                 {f"{WEST} 30 IN CNAME {G}"} | a(G, "192.0.2.10", "198.51.100.5"), set(),
                 id="region-cname-fallback"),
    pytest.param(Query(ZA), "NOERROR", a(ZA, "192.0.2.10"), set(), id="zone-a"),
    pytest.param(Query(ZB), "NOERROR", a(ZB, "198.51.100.5"), set(), id="zone-b"),
    # zone b has a healthy IPv4 target only: AAAA finds services but none of type
    # AAAA, so no records and no error: NODATA (the fallback is per tier, not type).
    pytest.param(Query(ZB, "AAAA"), "NOERROR", set(), {SOA}, id="zone-b-aaaa-nodata"),
    # zone c → region west (CNAME) → global (CNAME) → addresses: two chased CNAMEs.
    pytest.param(Query(ZC), "NOERROR",
                 {f"{ZC} 30 IN CNAME {WEST}", f"{WEST} 30 IN CNAME {G}"}
                 | a(G, "192.0.2.10", "198.51.100.5"), set(), id="zone-cname-chain"),
    pytest.param(Query(ZC, "AAAA"), "NOERROR",
                 {f"{ZC} 30 IN CNAME {WEST}", f"{WEST} 30 IN CNAME {G}"} | a(G, "2001:db8::10"),
                 set(), id="zone-cname-chain-aaaa"),
    # CNAME(): the exact key's service when its host is a name.
    pytest.param(Query(WEST, "CNAME"), "NOERROR", {f"{WEST} 30 IN CNAME {G}"}, set(),
                 id="region-cname-query"),
    pytest.param(Query("umich." + G), "NOERROR", a("umich." + G, "192.0.2.10"), set(),
                 id="member-a"),
    pytest.param(Query("umich." + G, "AAAA"), "NOERROR", a("umich." + G, "2001:db8::10"), set(),
                 id="member-aaaa"),
    pytest.param(Query("msu." + G), "NOERROR", a("msu." + G, "198.51.100.5"), set(),
                 id="member-msu"),
    # the unhealthy member has no key at all: errKeyNotFound → NXDOMAIN.
    pytest.param(Query("ucsd." + G), "NXDOMAIN", set(), {SOA}, id="unhealthy-member"),
    # SRV(): one service per leaf, weight 100/(3*100)*100 = 33, IP hosts become the
    # key's own name with the address in the additional section.
    pytest.param(Query(SRV, "SRV"), "NOERROR",
                 {f"{SRV} 30 IN SRV 10 33 80 192-0-2-10.umich.{SRV}",
                  f"{SRV} 30 IN SRV 10 33 80 2001-db8--10.umich.{SRV}",
                  f"{SRV} 30 IN SRV 10 33 80 198-51-100-5.msu.{SRV}"},
                 set(), id="srv"),
    # SRV on the service name itself aggregates all six leaves (weight 100/600*100).
    pytest.param(Query(G, "SRV"), "NOERROR",
                 {f"{G} 30 IN SRV 10 16 80 192-0-2-10.umich.{SRV}",
                  f"{G} 30 IN SRV 10 16 80 2001-db8--10.umich.{SRV}",
                  f"{G} 30 IN SRV 10 16 80 198-51-100-5.msu.{SRV}",
                  f"{G} 30 IN SRV 10 16 0 192-0-2-10.umich.{G}",
                  f"{G} 30 IN SRV 10 16 0 2001-db8--10.umich.{G}",
                  f"{G} 30 IN SRV 10 16 0 198-51-100-5.msu.{G}"},
                 set(), id="srv-on-service-name"),
    pytest.param(Query(G, "TXT"), "NOERROR", set(), {SOA}, id="txt-nodata"),
    pytest.param(Query(G, "MX"), "NOERROR", set(), {SOA}, id="mx-nodata"),
    # the apex has no apex.dns key, so it aggregates the whole zone; the tier CNAMEs
    # point below the query name and are skipped as loops.
    pytest.param(Query("example.com."), "NOERROR", a("example.com.", "192.0.2.10", "198.51.100.5"),
                 set(), id="apex-aggregates-zone"),
    pytest.param(Query("nothing.hello.default.myfed.svc.example.com."), "NXDOMAIN", set(), {SOA},
                 id="below-service-nxdomain"),
]

# Where fedns answers differently from CoreDNS on purpose (answer.py docstring).
DIFFERENCES = [
    # CoreDNS: CNAME() reads the exact key only and answers NXDOMAIN for a name that
    # has keys below it; fedns answers NODATA, as an NXDOMAIN would deny the A records.
    pytest.param(Query(G, "CNAME"), "NOERROR", set(), {SOA}, id="cname-query-on-aggregate"),
]


@pytest.fixture
async def port():
    async with helpers.memory_store() as store:
        await helpers.write_federation(store)
        async with helpers.serving(store, settings.Settings(zones=("example.com",))) as bound:
            yield bound


@pytest.mark.parametrize(("query", "rcode", "answer", "authority"), CASES + DIFFERENCES)
async def test_answers_match_coredns(port, query, rcode, answer, authority):
    reply = await helpers.ask_dnspython(port, query)
    assert reply.rcode == rcode
    assert reply.answer == answer
    assert reply.authority == authority
    assert "aa" in reply.flags and "ra" not in reply.flags


def test_sample_federation_is_three_members_two_regions_one_unhealthy():
    regions = {loc.region for loc in helpers.TOPOLOGY}
    unhealthy = [s.member for s in helpers.STATES if not s.healthy]
    assert len(helpers.TOPOLOGY) == 3 and len(regions) == 2 and unhealthy == ["ucsd"]
    assert desired.parse_global_name(G, "example.com") == helpers.REF
