"""corefile.render: the exact Corefiles, and every rendering passes corefile.check."""

from __future__ import annotations

import itertools

import pytest

from corefile import check, render

ZONE = """\
# federation myfed, zone example.com: CoreDNS serves the records fedns writes to etcd.
# Rendered by `fedns corefile render`; change the fedns config, not this file.
example.com:53 {
    errors
    health :8080 {
        lameduck 5s
    }
    ready :8181
    prometheus :9153
    etcd example.com {
        path /skydns
        endpoint http://192.0.2.1:2379
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def test_zone_exact():
    zone = render.Zone("example.com", ("http://192.0.2.1:2379",), federation="myfed")
    assert render.render_zone(zone) == ZONE


def etcd_block(zone: render.Zone) -> list[str]:
    text = render.render_zone(zone)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("etcd "))
    end = lines.index("    }", start)
    return [line.strip() for line in lines[start:end + 1]]


@pytest.mark.parametrize("zone, expected", [
    (render.Zone("Example.COM.", ("http://a:2379", "http://[2001:db8::1]:2379")),
     ["etcd example.com {", "path /skydns",
      "endpoint http://a:2379 http://[2001:db8::1]:2379", "}"]),
    (render.Zone("example.com", ("https://a:2379",), tls=("/tls/c.crt", "/tls/c.key", "/tls/ca.crt")),
     ["etcd example.com {", "path /skydns", "endpoint https://a:2379",
      "tls /tls/c.crt /tls/c.key /tls/ca.crt", "}"]),
    (render.Zone("example.com", ("http://a:2379",), credentials=("{$ETCD_USER}", "p w#\"x")),
     ["etcd example.com {", "path /skydns", "endpoint http://a:2379",
      'credentials {$ETCD_USER} "p w#\\"x"', "}"]),
    (render.Zone("example.com", ("http://a:2379",), fallthrough=True, path="/dns"),
     ["etcd example.com {", "path /dns", "endpoint http://a:2379", "fallthrough", "}"]),
], ids=["two-endpoints-v6", "tls", "credentials-quoted", "fallthrough-path"])
def test_zone_etcd_block(zone, expected):
    assert etcd_block(zone) == expected


@pytest.mark.parametrize("ttl, port, first, cache", [
    (30, 53, "example.com:53 {", "cache 30"),
    (5, 1053, "example.com:1053 {", "cache 5"),
    (3600, 5353, "example.com:5353 {", "cache 3600"),
], ids=["default", "short-ttl-high-port", "long-ttl"])
def test_zone_port_and_cache_never_longer_than_ttl(ttl, port, first, cache):
    lines = render.render_zone(render.Zone("example.com", ("http://a:2379",), ttl=ttl,
                                           port=port)).splitlines()
    assert lines[2] == first
    assert f"    {cache}" in lines


STUB = """\
# Federation zone example.com for member umich: add this server block to the
# member's CoreDNS Corefile (kube-system/coredns); rendered by `fedns corefile render`.
example.com:53 {
    errors
    cache 30
    forward . 192.0.2.53 198.51.100.53:5353 [2001:db8::53]:5353 [2001:db8::54]:53
}
"""


def test_stub_exact():
    stub = render.Stub("example.com", ("192.0.2.53:53", "198.51.100.53:5353",
                                       "[2001:db8::53]:5353", "2001:db8::54"), member="umich")
    assert render.render_stub(stub) == STUB


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.1", "192.0.2.1"), ("192.0.2.1:53", "192.0.2.1"),
    ("192.0.2.1:5353", "192.0.2.1:5353"), ("2001:DB8::1", "[2001:db8::1]:53"),
    ("[2001:db8::1]", "[2001:db8::1]:53"), ("[2001:db8::1]:53", "[2001:db8::1]:53"),
    ("[2001:db8::1]:5353", "[2001:db8::1]:5353"),
], ids=["v4", "v4-53", "v4-port", "v6", "v6-brackets", "v6-53", "v6-port"])
def test_forward_address(text, expected):
    assert render.forward_address(text) == expected


@pytest.mark.parametrize("text, message", [
    ("dns.example.com", "DNS address 'dns.example.com' is not IP or IP:PORT"),
    ("192.0.2.1:x", "DNS address '192.0.2.1:x' is not IP or IP:PORT"),
    ("192.0.2.1:0", "DNS address '192.0.2.1:0': port 0 is out of range"),
    ("[2001:db8::1]x", "DNS address '[2001:db8::1]x' is not IP or IP:PORT"),
], ids=["name", "bad-port", "port-zero", "junk-after-bracket"])
def test_forward_address_refused(text, message):
    with pytest.raises(render.RenderError) as err:
        render.forward_address(text)
    assert str(err.value) == message


@pytest.mark.parametrize("make, message", [
    (lambda: render.render_zone(render.Zone("example.com", ())),
     "no etcd endpoint: the store must be etcd://HOST:PORT[,HOST:PORT...]"),
    (lambda: render.render_zone(render.Zone("example.com", ("http://a:1",), tls=("c", "k"))),
     "etcd TLS needs three files: CERT KEY CACERT"),
    (lambda: render.render_zone(render.Zone("example.com", ("http://a:1",), ttl=0)),
     "TTL 0 is not 1..86400 seconds"),
    (lambda: render.render_zone(render.Zone("example.com", ("http://a:1",), port=70000)),
     "port 70000 is out of range"),
    (lambda: render.render_zone(render.Zone("", ("http://a:1",))), "domain '' is not a DNS name"),
    (lambda: render.render_zone(render.Zone("example.com", ("http://a:1",), path="skydns")),
     "etcd path 'skydns' must start with '/'"),
    (lambda: render.render_zone(render.Zone("example.com", ("http://a:1",),
                                            credentials=("u", 'a b\\"c'))),
     "'a b\\\\\"c' cannot be written as a Corefile token"),
    (lambda: render.render_stub(render.Stub("example.com", ())),
     "no federation DNS address to forward to"),
], ids=["no-endpoint", "tls-two-files", "ttl-zero", "port", "empty-domain", "relative-path",
        "unwritable-password", "stub-no-address"])
def test_refused(make, message):
    with pytest.raises(render.RenderError) as err:
        make()
    assert str(err.value) == message


@pytest.mark.parametrize("endpoints, tls, credentials, fallthrough", list(itertools.product(
    [("http://etcd:2379",), ("http://a:2379", "http://b:2379", "http://[::1]:2379")],
    [(), ("/c", "/k", "/ca")],
    [None, ("user", "two words")],
    [False, True])))
def test_every_zone_rendering_passes_check(endpoints, tls, credentials, fallthrough):
    zone = render.Zone("fed.example.com", endpoints, tls=tls, credentials=credentials,
                       fallthrough=fallthrough)
    assert check.check(render.render_zone(zone), "example.com") == []


@pytest.mark.parametrize("addresses", [("192.0.2.1",), ("192.0.2.1:5353", "[2001:db8::1]:53")])
def test_every_stub_rendering_passes_check(addresses):
    text = render.render_stub(render.Stub("example.com", addresses, ttl=10, port=1053))
    assert check.check(text, "example.com") == []


def test_endpoint_url():
    assert render.endpoint_url("etcd-0.etcd", 2379) == "http://etcd-0.etcd:2379"
    assert render.endpoint_url("2001:db8::1", 2379, tls=True) == "https://[2001:db8::1]:2379"
