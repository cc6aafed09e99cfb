"""Fuzz: 50,000 random and mutated packets over UDP and TCP.  The server answers or
drops each, keeps serving, logs no internal failure, and every answer parses."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct

import dns.edns
import dns.message
import pytest

from fedns.dnsserver import settings
from tests.dnsserver import helpers

UDP_PACKETS = 40_000
TCP_PACKETS = 10_000
SEED = 20260516
CONFIG = settings.Settings(zones=("example.com", "2.0.192.in-addr.arpa"),
                           sites=(settings.Site.make("lo", "mw", "b", ["127.0.0.0/8"]),))


def seeds() -> list[bytes]:
    """Valid queries of every kind the server handles, to mutate."""
    out = []
    names = [helpers.GLOBAL, "umich." + helpers.GLOBAL, "_http._tcp." + helpers.GLOBAL,
             "hello.default.myfed.svc.c.west.example.com.", "example.com.", "x.example.org.",
             "*.example.com.", "10.2.0.192.in-addr.arpa."]
    for name in names:
        for qtype in ["A", "AAAA", "SRV", "TXT", "NS", "SOA", "ANY", "CNAME", "PTR", "MX", "AXFR"]:
            out.append(dns.message.make_query(name, qtype).to_wire())
            out.append(dns.message.make_query(
                name, qtype, use_edns=0, want_dnssec=True,
                options=[dns.edns.ECSOption("10.1.0.0", 16), dns.edns.GenericOption(10, b"c" * 8)],
            ).to_wire())
    return out


def mutate(rng: random.Random, packet: bytes) -> bytes:
    data = bytearray(packet)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.3 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.45 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif choice < 0.6:
            del data[rng.randrange(len(data) + 1):]
        elif choice < 0.7:
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif choice < 0.85 and len(data) >= 12:
            offset = rng.choice([4, 6, 8, 10])  # section counts
            struct.pack_into("!H", data, offset, rng.choice([0, 1, 2, 255, 65535]))
        elif len(data) >= 14:
            pos = rng.randrange(12, len(data) - 1)  # a compression pointer anywhere
            data[pos:pos + 2] = struct.pack("!H", 0xC000 | rng.randrange(len(data)))
        if len(data) >= 3:
            data[2] &= 0x7F  # mostly queries, so most packets reach the answer path
    return bytes(data)


def packets(rng: random.Random, count: int) -> list[bytes]:
    base = seeds()
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15:
            out.append(rng.randbytes(rng.randint(0, 600)))
        elif roll < 0.2:
            out.append(rng.choice(base))
        else:
            out.append(mutate(rng, rng.choice(base)))
    return out


def parses(reply: bytes) -> bool:
    dns.message.from_wire(reply, ignore_trailing=False)
    return True


class Catcher(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: list[bytes] = []
        self.sentinels: set[int] = set()
        self.event = asyncio.Event()

    def datagram_received(self, data: bytes, addr) -> None:
        self.replies.append(data)
        if len(data) >= 2 and struct.unpack("!H", data[:2])[0] >= 0xFF00:
            self.sentinels.add(struct.unpack("!H", data[:2])[0])
            self.event.set()


async def fuzz_udp(port: int, batch: list[bytes], index: int, catcher: Catcher, transport) -> None:
    """Send a batch, then a sentinel query; its reply means the batch was handled
    (one socket, one server loop: replies come back in order)."""
    for packet in batch:
        transport.sendto(packet)
    sentinel = 0xFF00 + index % 0xFF
    message = dns.message.make_query(helpers.GLOBAL, "A")
    message.id = sentinel
    deadline = asyncio.get_running_loop().time() + 10
    while sentinel not in catcher.sentinels:
        catcher.event.clear()
        transport.sendto(message.to_wire())
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "server stopped answering"
        try:
            await asyncio.wait_for(catcher.event.wait(), min(1.0, remaining))
        except TimeoutError:
            pass  # resend: a UDP datagram may be dropped by a full buffer
    catcher.sentinels.discard(sentinel)


async def fuzz_tcp(port: int, batch: list[bytes]) -> list[bytes]:
    """Each packet framed on a connection; a dropped one closes it, so reconnect."""
    replies = []
    reader = writer = None
    for packet in batch:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(struct.pack("!H", len(packet)) + packet)
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readexactly(2), 10)
            replies.append(await asyncio.wait_for(
                reader.readexactly(struct.unpack("!H", head)[0]), 10))
        except asyncio.IncompleteReadError:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
    return replies


@pytest.fixture
async def port():
    async with helpers.memory_store() as store:
        await helpers.write_federation(store)
        await store.put(b"/skydns/com/example/broken", b'{"host":1}')
        async with helpers.serving(store, CONFIG) as bound:
            yield bound


async def test_fuzz_udp_and_tcp(port, caplog):
    caplog.set_level(logging.ERROR, logger="fedns.dnsserver")
    rng = random.Random(SEED)
    loop = asyncio.get_running_loop()
    catcher = Catcher()
    transport, _ = await loop.create_datagram_endpoint(lambda: catcher,
                                                       remote_addr=("127.0.0.1", port),
                                                       family=socket.AF_INET)
    try:
        udp = packets(rng, UDP_PACKETS)
        for i in range(0, len(udp), 200):
            await fuzz_udp(port, udp[i:i + 200], i // 200, catcher, transport)
    finally:
        transport.close()
    tcp = packets(rng, TCP_PACKETS)
    tcp_replies = await asyncio.gather(*(fuzz_tcp(port, tcp[i::8]) for i in range(8)))

    replies = catcher.replies + [r for chunk in tcp_replies for r in chunk]
    assert all(parses(reply) for reply in replies)
    assert len(catcher.replies) > UDP_PACKETS // 2  # most packets were answered, not dropped
    assert [r.getMessage() for r in caplog.records] == []
    # still serving
    reply = await helpers.ask_dnspython(port, helpers.Query(helpers.GLOBAL, ecs="192.0.2.0/24"))
    assert reply.rcode == "NOERROR" and len(reply.answer) == 2
