"""Conformance: every behaviour of the embedded server as a table row, asked over real
sockets by two real clients (dnspython and dig): rcode, flags (AA set, TC, RA clear)
and the answer, authority and additional sections."""

from __future__ import annotations

import pytest

from fedns.dnsserver import settings
from tests.dnsserver import helpers
from tests.dnsserver.helpers import GLOBAL as G
from tests.dnsserver.helpers import Query

CONFIG = settings.Settings(
    zones=("example.com", "2.0.192.in-addr.arpa"),
    ns_addresses=("192.0.2.53",),
    sites=(
        settings.Site.make("umich", "mw", "a", ["10.1.0.0/16"]),
        settings.Site.make("ucsd", "west", "c", ["10.2.0.0/16"]),
        settings.Site.make("msu", "mw", "b", ["127.0.0.0/8"]),  # the tests' own source
    ),
)

HANDWRITTEN = {
    "/skydns/com/example/dns/apex": '{"host":"192.0.2.1","ttl":60}',
    "/skydns/com/example/txt": '{"text":"hello <world> & all","ttl":60}',
    "/skydns/com/example/cname": '{"host":"hello.default.myfed.svc.mw.example.com","ttl":60}',
    "/skydns/com/example/loop/a": '{"host":"b.loop.example.com"}',
    "/skydns/com/example/loop/b": '{"host":"a.loop.example.com"}',
    "/skydns/com/example/out": '{"host":"www.example.org."}',
    "/skydns/com/example/broken": '{"host":1}',
    "/skydns/com/example/mail": '{"host":"mx.example.com","mail":true,"priority":10}',
    "/skydns/com/example/mx": '{"host":"192.0.2.25"}',
    "/skydns/arpa/in-addr/192/0/2/10": '{"host":"umich.hello.default.myfed.svc.example.com"}',
    **{f"/skydns/com/example/big/h{i:02}": f'{{"host":"10.0.0.{i}"}}' for i in range(50)},
}

SOA = "example.com. 30 IN SOA ns.dns.example.com. hostmaster.example.com. * 7200 1800 86400 30"
A10 = f"{G} 30 IN A 192.0.2.10"
A5 = f"{G} 30 IN A 198.51.100.5"
AAAA10 = f"{G} 30 IN AAAA 2001:db8::10"
MW = "hello.default.myfed.svc.mw.example.com."
WEST = "hello.default.myfed.svc.west.example.com."
ZONE_C = "hello.default.myfed.svc.c.west.example.com."
SRV = "_http._tcp." + G
BIG = {f"big.example.com. 300 IN A 10.0.0.{i}" for i in range(50)}
AA = {"qr", "aa"}


def row(id, query, rcode="NOERROR", flags=AA, answer=(), authority=(), additional=(),
        ecs=None):
    return pytest.param(query, rcode, set(flags), set(answer), set(authority), set(additional),
                        ecs, id=id)


ROWS = [
    # nearest answers for the global name
    row("global-site-by-source", Query(G), answer={A5}),
    row("global-ecs-unknown-client-gets-all", Query(G, ecs="192.0.2.0/24"), answer={A10, A5},
        ecs="192.0.2.0/24/24"),
    row("global-ecs-zone-tier", Query(G, ecs="10.1.2.0/24"), answer={A10}, ecs="10.1.2.0/24/16"),
    row("global-ecs-no-healthy-region-gets-all", Query(G, ecs="10.2.3.0/24"), answer={A10, A5},
        ecs="10.2.3.0/24/16"),
    row("global-ecs-source-zero-gets-all", Query(G, ecs="0.0.0.0/0"), answer={A10, A5},
        ecs="0.0.0.0/0/0"),
    row("global-ecs-v6-unknown", Query(G, "AAAA", ecs="2001:db8:ff::/48"), answer={AAAA10},
        ecs="2001:db8:ff::/48/48"),
    row("global-aaaa-zone-tier", Query(G, "AAAA", ecs="10.1.0.0/24"), answer={AAAA10},
        ecs="10.1.0.0/24/16"),
    row("global-aaaa-region-tier-by-source", Query(G, "AAAA"), answer={AAAA10}),
    row("global-over-tcp", Query(G, tcp=True, ecs="10.1.0.0/24"), answer={A10},
        ecs="10.1.0.0/24/16"),
    row("question-case-preserved", Query("HeLLo.DeFault.myfed.svc.Example.com.", ecs="192.0.2.0/24"),
        answer={"HeLLo.DeFault.myfed.svc.Example.com. 30 IN A 192.0.2.10",
                "HeLLo.DeFault.myfed.svc.Example.com. 30 IN A 198.51.100.5"},
        ecs="192.0.2.0/24/24"),
    row("rd-copied-ra-clear", Query(G, rd=True, ecs="192.0.2.0/24"), flags={"qr", "aa", "rd"},
        answer={A10, A5}, ecs="192.0.2.0/24/24"),
    # tiers and members (not tailored: only the global name is)
    row("region-tier", Query(MW), answer={f"{MW} 30 IN A 192.0.2.10", f"{MW} 30 IN A 198.51.100.5"}),
    row("zone-tier-cname-fallback-chain", Query(ZONE_C),
        answer={f"{ZONE_C} 30 IN CNAME {WEST}", f"{WEST} 30 IN CNAME {G}", A10, A5}),
    row("zone-tier-cname-query", Query(ZONE_C, "CNAME"), answer={f"{ZONE_C} 30 IN CNAME {WEST}"}),
    row("member-name", Query("umich." + G), answer={f"umich.{G} 30 IN A 192.0.2.10"}),
    row("unhealthy-member-nxdomain", Query("ucsd." + G), "NXDOMAIN", authority={SOA}),
    row("srv-named-port", Query(SRV, "SRV"),
        answer={f"{SRV} 30 IN SRV 10 33 80 192-0-2-10.umich.{SRV}",
                f"{SRV} 30 IN SRV 10 33 80 2001-db8--10.umich.{SRV}",
                f"{SRV} 30 IN SRV 10 33 80 198-51-100-5.msu.{SRV}"},
        additional={f"192-0-2-10.umich.{SRV} 30 IN A 192.0.2.10",
                    f"2001-db8--10.umich.{SRV} 30 IN AAAA 2001:db8::10",
                    f"198-51-100-5.msu.{SRV} 30 IN A 198.51.100.5"}),
    # negative answers
    row("nodata-has-soa", Query(G, "TXT"), authority={SOA}),
    row("nxdomain-has-soa", Query("nothing.example.com."), "NXDOMAIN", authority={SOA}),
    row("outside-zones-refused", Query("www.example.org."), "REFUSED", flags={"qr"}),
    row("broken-value-servfail", Query("broken.example.com."), "SERVFAIL", authority={SOA}),
    # apex
    row("apex-soa", Query("example.com.", "SOA"), answer={SOA}),
    row("apex-ns-synthesised", Query("example.com.", "NS"),
        answer={"example.com. 300 IN NS ns.dns.example.com."},
        additional={"ns.dns.example.com. 300 IN A 192.0.2.53"}),
    row("ns-name-address", Query("ns.dns.example.com."),
        answer={"ns.dns.example.com. 300 IN A 192.0.2.53"}),
    row("apex-a-from-apex-dns", Query("example.com."), answer={"example.com. 60 IN A 192.0.2.1"}),
    # other types
    row("txt-escaped-as-written", Query("txt.example.com.", "TXT"),
        answer={'txt.example.com. 60 IN TXT "hello <world> & all"'}),
    row("mx-with-glue", Query("mail.example.com.", "MX"),
        answer={"mail.example.com. 300 IN MX 10 mx.example.com."},
        additional={"mx.example.com. 300 IN A 192.0.2.25"}),
    row("ptr", Query("10.2.0.192.in-addr.arpa.", "PTR"),
        answer={"10.2.0.192.in-addr.arpa. 300 IN PTR umich.hello.default.myfed.svc.example.com."}),
    row("wildcard", Query("*.hello.default.myfed.svc.example.com.", ecs="192.0.2.0/24"),
        answer={"*.hello.default.myfed.svc.example.com. 30 IN A 192.0.2.10",
                "*.hello.default.myfed.svc.example.com. 30 IN A 198.51.100.5"},
        ecs="192.0.2.0/24/0"),
    row("any-rfc8482", Query(G, "ANY"), answer={f'{G} 3600 IN HINFO "RFC8482" ""'}),
    row("any-nxdomain", Query("nothing.example.com.", "ANY"), "NXDOMAIN", authority={SOA}),
    # CNAMEs
    row("in-zone-cname-chased", Query("cname.example.com."),
        answer={f"cname.example.com. 60 IN CNAME {MW}", f"{MW} 30 IN A 192.0.2.10",
                f"{MW} 30 IN A 198.51.100.5"}),
    row("cname-loop-nodata", Query("a.loop.example.com."), authority={SOA}),
    row("out-of-zone-cname-alone", Query("out.example.com."),
        answer={"out.example.com. 300 IN CNAME www.example.org."}),
    # sizes and transports
    row("tc-without-edns", Query("big.example.com.", edns=None), flags={"qr", "aa", "tc"}),
    row("tc-small-edns-buffer", Query("big.example.com.", edns=512), flags={"qr", "aa", "tc"}),
    row("fits-edns-buffer", Query("big.example.com.", edns=1232), answer=BIG),
    row("tcp-never-truncated", Query("big.example.com.", tcp=True, edns=None), answer=BIG),
    # protocol errors
    row("notify-notimp", Query(G, "SOA", opcode="NOTIFY"), "NOTIMP", flags={"qr"}),
    row("no-question-formerr", Query("", no_question=True), "FORMERR", flags={"qr"}),
    row("edns-version-badvers", Query(G, edns_version=1), "BADVERS", flags={"qr"}),
]


@pytest.fixture
async def port():
    async with helpers.memory_store() as store:
        await helpers.write_federation(store)
        for key, value in HANDWRITTEN.items():
            await store.put(key.encode(), value.encode())
        async with helpers.serving(store, CONFIG) as bound:
            yield bound


@pytest.mark.parametrize("client", sorted(helpers.CLIENTS))
@pytest.mark.parametrize(("query", "rcode", "flags", "answer", "authority", "additional", "ecs"),
                         ROWS)
async def test_conformance(port, client, query, rcode, flags, answer, authority, additional, ecs):
    reply = await helpers.CLIENTS[client](port, query)
    assert (reply.rcode, reply.flags) == (rcode, flags)
    assert reply.answer == answer
    assert reply.authority == authority
    assert reply.additional == additional
    assert reply.ecs == ecs
    # OPT echoed (with our payload size) exactly when the query had one
    assert reply.payload == (None if query.edns is None else CONFIG.edns_payload)
