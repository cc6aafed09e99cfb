"""serve() end to end, and the parsers the CLI uses for its options."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from fedns import errors
from fedns.dnsserver import daemon, settings
from placement import topology
from tests.dnsserver import helpers


@pytest.mark.parametrize(("text", "address"), [
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[::1]:53", ("::1", 53)),
    (":53", ("0.0.0.0", 53)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
])
def test_parse_listen(text, address):
    assert daemon.parse_listen(text) == address


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", ""])
def test_parse_listen_rejects(text):
    with pytest.raises(errors.UsageError):
        daemon.parse_listen(text)


def test_parse_site():
    site = daemon.parse_site("umich:MW:a=10.1.0.0/16,2001:db8::/32")
    assert site == settings.Site(topology.Location("umich", "umich", "mw", "a"),
                                 (ipaddress.ip_network("10.1.0.0/16"),
                                  ipaddress.ip_network("2001:db8::/32")))


@pytest.mark.parametrize("text", ["umich=10.0.0.0/8", "a:b:c", "a:b:c=", "a:b:c=notanet",
                                  "a::c=10.0.0.0/8"])
def test_parse_site_rejects(text):
    with pytest.raises(errors.UsageError):
        daemon.parse_site(text)


@pytest.mark.parametrize("zones", [(), ("a..b",)])
def test_bad_zones_are_usage_errors(zones):
    with pytest.raises(errors.UsageError):
        settings.Settings(zones=zones)


async def test_serve_answers_until_cancelled():
    bound: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(daemon.serve(
        "memory://", "example.com", "127.0.0.1:0", ns_addresses=["192.0.2.53"],
        started=bound.set_result))
    try:
        _, port = await asyncio.wait_for(bound, 10)
        ns = await helpers.ask_dnspython(port, helpers.Query("ns.dns.example.com."))
        assert ns.answer == {"ns.dns.example.com. 300 IN A 192.0.2.53"}
        refused = await helpers.ask_dnspython(port, helpers.Query("example.org."))
        assert refused.rcode == "REFUSED"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_serve_rejects_bad_listen_before_opening_the_store():
    with pytest.raises(errors.UsageError):
        await daemon.serve("etcd://127.0.0.1:1", "example.com", "nowhere")
