"""Desired records of one federated service: every tier, CNAME fallbacks, SRV, health."""

from __future__ import annotations

import pytest

from fedns.records import desired, skydns
from placement import topology

REF = desired.ServiceRef("myfed", "default", "hello")
TOPOLOGY = [topology.Location("umich", "umich", "mw", "a"),
            topology.Location("msu", "msu", "mw", "b"),
            topology.Location("ucsd", "ucsd", "west", "c")]
HTTP = desired.NamedPort("http", "TCP", 80)
P = "/skydns/com/example"


def state(member, *addresses, healthy=True, ports=()):
    return desired.MemberState(member, tuple(addresses), healthy, tuple(ports))


def a(host, ttl=30, port=0):
    return skydns.Service(host=host, ttl=ttl, port=port).to_json()


CASES = [
    pytest.param(
        [state("umich", "192.0.2.10", "2001:db8::10", ports=[HTTP]), state("msu", "198.51.100.5"),
         state("ucsd", "203.0.113.7", healthy=False)],
        {
            f"{P}/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/svc/myfed/default/hello/umich/2001-db8--10": a("2001:db8::10"),
            f"{P}/svc/myfed/default/hello/msu/198-51-100-5": a("198.51.100.5"),
            f"{P}/svc/myfed/default/hello/_tcp/_http/umich/192-0-2-10": a("192.0.2.10", port=80),
            f"{P}/svc/myfed/default/hello/_tcp/_http/umich/2001-db8--10":
                a("2001:db8::10", port=80),
            f"{P}/mw/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/svc/myfed/default/hello/umich/2001-db8--10": a("2001:db8::10"),
            f"{P}/mw/svc/myfed/default/hello/msu/198-51-100-5": a("198.51.100.5"),
            f"{P}/mw/a/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/a/svc/myfed/default/hello/umich/2001-db8--10": a("2001:db8::10"),
            f"{P}/mw/b/svc/myfed/default/hello/msu/198-51-100-5": a("198.51.100.5"),
            f"{P}/west/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.example.com.","ttl":30}',
            f"{P}/west/c/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.west.example.com.","ttl":30}',
        },
        id="three-members-one-unhealthy",
    ),
    pytest.param(
        [state("umich", "192.0.2.10")],
        {
            f"{P}/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/a/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/b/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.mw.example.com.","ttl":30}',
            f"{P}/west/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.example.com.","ttl":30}',
            f"{P}/west/c/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.west.example.com.","ttl":30}',
        },
        id="zone-falls-back-to-region-region-to-global",
    ),
    pytest.param(
        [state("umich", "192.0.2.10", healthy=False), state("msu"), state("ucsd", healthy=True)],
        {}, id="nothing-healthy-no-records",
    ),
    pytest.param([], {}, id="no-members"),
    pytest.param(
        [state("umich", "192.0.2.10", "192.0.2.10")],
        {
            f"{P}/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/a/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10"),
            f"{P}/mw/b/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.mw.example.com.","ttl":30}',
            f"{P}/west/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.example.com.","ttl":30}',
            f"{P}/west/c/svc/myfed/default/hello":
                '{"host":"hello.default.myfed.svc.west.example.com.","ttl":30}',
        },
        id="duplicate-address-once",
    ),
]


@pytest.mark.parametrize(("states", "expected"), CASES)
def test_records(states, expected):
    assert desired.records(REF, "example.com", TOPOLOGY, states) == expected


def test_ttl_and_prefix_are_used():
    got = desired.records(REF, "Example.COM.", TOPOLOGY[:1], [state("umich", "192.0.2.10")],
                          ttl=5, prefix="/dns")
    assert got == {
        "/dns/com/example/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10", ttl=5),
        "/dns/com/example/mw/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10", ttl=5),
        "/dns/com/example/mw/a/svc/myfed/default/hello/umich/192-0-2-10": a("192.0.2.10", ttl=5),
    }


def test_member_name_sees_only_its_targets():
    got = desired.records(REF, "example.com", TOPOLOGY,
                          [state("umich", "192.0.2.10"), state("msu", "198.51.100.5")])
    member_prefix = skydns.name_to_key(desired.member_name(REF, "example.com", "umich")) + "/"
    assert [k for k in got if k.startswith(member_prefix)] == [
        f"{P}/svc/myfed/default/hello/umich/192-0-2-10"]


@pytest.mark.parametrize(("states", "error"), [
    pytest.param([state("nowhere", "192.0.2.1")], desired.UnknownMember, id="unknown-member"),
    pytest.param([state("umich", "not-an-ip")], desired.BadAddress, id="bad-address"),
    pytest.param([state("umich", "192.0.2.1", ports=[desired.NamedPort("http", "TCP", 0)])],
                 skydns.BadValue, id="bad-port"),
    pytest.param([state("umich", "192.0.2.1", ports=[desired.NamedPort("h_t", "TCP", 80)])],
                 skydns.BadName, id="bad-port-name"),
])
def test_bad_input_is_refused(states, error):
    with pytest.raises(error):
        desired.records(REF, "example.com", TOPOLOGY, states)


def test_bad_ttl_is_refused():
    with pytest.raises(skydns.BadValue):
        desired.records(REF, "example.com", TOPOLOGY, [], ttl=0)


@pytest.mark.parametrize(("name", "ref"), [
    pytest.param("hello.default.myfed.svc.example.com", REF, id="global"),
    pytest.param("HELLO.default.myfed.svc.example.com.", REF, id="case-and-dot"),
    pytest.param("hello.default.myfed.svc.mw.example.com", None, id="region"),
    pytest.param("umich.hello.default.myfed.svc.example.com", None, id="member"),
    pytest.param("hello.default.myfed.xyz.example.com", None, id="not-svc"),
    pytest.param("hello.default.myfed.svc.example.org", None, id="other-domain"),
])
def test_parse_global_name(name, ref):
    assert desired.parse_global_name(name, "example.com") == ref


def test_names():
    assert desired.global_name(REF, "example.com") == "hello.default.myfed.svc.example.com"
    assert desired.region_name(REF, "example.com", "mw") == "hello.default.myfed.svc.mw.example.com"
    assert (desired.zone_name(REF, "example.com", "mw", "a")
            == "hello.default.myfed.svc.a.mw.example.com")
    assert (desired.srv_name(REF, "example.com", HTTP)
            == "_http._tcp.hello.default.myfed.svc.example.com")
