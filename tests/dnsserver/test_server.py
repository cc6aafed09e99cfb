"""The transport: TCP framing, pipelining and idle timeout; drops; metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from fedns.dnsserver import server, settings, zone
from tests.dnsserver import helpers
from tests.support import aio

CONFIG = settings.Settings(zones=("example.com",))


async def started(idle: float = server.DEFAULT_TCP_IDLE):
    z = zone.Zone()
    z.put(b"/skydns/com/example/a", b'{"host":"192.0.2.1"}')
    srv = server.Server(z, CONFIG, tcp_idle_timeout=idle)
    _, port = await srv.start("127.0.0.1", 0)
    return srv, port


def query(name: str, ident: int) -> bytes:
    message = dns.message.make_query(name, "A")
    message.id = ident
    return message.to_wire()


class UDPClient:
    """A UDP socket connected to the server, on the event loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    async def send(self, packet: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, packet)

    async def reply(self) -> bytes:
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 4096), 5)


@contextlib.asynccontextmanager
async def udp_client(port: int) -> AsyncIterator[UDPClient]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        yield UDPClient(sock)
    finally:
        sock.close()


async def read_reply(reader: asyncio.StreamReader) -> dns.message.Message:
    (length,) = struct.unpack("!H", await reader.readexactly(2))
    return dns.message.from_wire(await reader.readexactly(length))


async def test_tcp_pipelined_queries_on_one_connection():
    srv, port = await started()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        names = ["a.example.com.", "b.example.com.", "a.example.com."]
        writer.write(b"".join(struct.pack("!H", len(q)) + q
                              for q in (query(n, i + 1) for i, n in enumerate(names))))
        await writer.drain()
        replies = [await asyncio.wait_for(read_reply(reader), 5) for _ in names]
        assert [r.id for r in replies] == [1, 2, 3]
        assert [dns.rcode.to_text(r.rcode()) for r in replies] == ["NOERROR", "NXDOMAIN", "NOERROR"]
        writer.close()
    finally:
        await srv.close()


async def test_tcp_idle_connection_is_closed():
    srv, port = await started(idle=0.2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00")  # half a length prefix, then silence
        start = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.15 < time.monotonic() - start < 3
        writer.close()
    finally:
        await srv.close()


async def test_udp_drops_non_dns_and_responses_then_still_answers():
    srv, port = await started()
    try:
        async with udp_client(port) as client:
            response = bytearray(query("a.example.com.", 7))
            response[2] |= 0x80  # QR: a response, never answered (no reflection loops)
            for packet in [b"", b"\x01", b"x" * 11, bytes(response)]:
                await client.send(packet)
            await client.send(query("a.example.com.", 9))
            reply = dns.message.from_wire(await client.reply())
        assert reply.id == 9  # the first reply is the valid query's: the rest were dropped
        assert srv.metrics()["fedns_dns_dropped_total"] == 4
    finally:
        await srv.close()


async def test_undecodable_query_gets_formerr_with_its_id():
    srv, port = await started()
    try:
        async with udp_client(port) as client:
            await client.send(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0")
            reply = dns.message.from_wire(await client.reply())
        assert (reply.id, reply.rcode()) == (0x1234, dns.rcode.FORMERR)
    finally:
        await srv.close()


@pytest.mark.parametrize("octets, first, rcode", [
    pytest.param(255, b"a", dns.rcode.NXDOMAIN, id="255-octets"),
    pytest.param(255, "\u00e9".encode(), dns.rcode.NXDOMAIN, id="255-octets-dnslib-reads"),
    pytest.param(256, b"a", dns.rcode.FORMERR, id="256-octets"),
    pytest.param(256, "\u00e9".encode(), dns.rcode.FORMERR, id="256-octets-dnslib-reads"),
])
async def test_long_question_name_over_udp(octets, first, rcode, caplog):
    # RFC 1035 §2.3.4 allows 255 octets: such a name is answered with its question
    # echoed; one longer does not decode (FORMERR, no question, as nsd and CoreDNS).
    # Either way nothing is logged as a failure.
    caplog.set_level(logging.ERROR, logger="fedns.dnsserver")
    srv, port = await started()
    try:
        async with udp_client(port) as client:
            await client.send(helpers.long_query(octets, first))
            data = await client.reply()
        reply = dns.message.from_wire(data)
        assert (reply.id, reply.rcode()) == (0x1234, rcode)
        if rcode == dns.rcode.FORMERR:
            assert data[4:] == bytes(8)  # no question, no records
        else:
            assert len(reply.question[0].name.to_wire()) == octets
            assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]
        name = dns.rcode.to_text(rcode)
        assert srv.metrics()[f'fedns_dns_responses_total{{rcode="{name}"}}'] == 1
    finally:
        await srv.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_cache_follows_zone_changes_and_metrics_count():
    srv, port = await started()
    try:
        import dns.asyncquery

        q = dns.message.make_query("a.example.com.", "A")
        first = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)
        again = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)
        srv.zone.put(b"/skydns/com/example/a", b'{"host":"192.0.2.2"}')
        changed = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)
        addresses = [[rr.address for rr in r.answer[0]] for r in (first, again, changed)]
        assert addresses == [["192.0.2.1"], ["192.0.2.1"], ["192.0.2.2"]]
        metrics = srv.metrics()
        assert metrics['fedns_dns_requests_total{transport="udp"}'] == 3
        assert metrics["fedns_dns_cache_hits_total"] == 1
        assert metrics['fedns_dns_responses_total{rcode="NOERROR"}'] == 3
    finally:
        await srv.close()


async def test_close_releases_the_port():
    srv, port = await started()
    await srv.close()
    again = server.Server(zone.Zone(), CONFIG)
    await aio.until(lambda: _bindable(port), what="port released")
    await again.start("127.0.0.1", port)
    await again.close()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
