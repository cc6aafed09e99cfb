"""TCP connection limits: one client holding idle connections cannot deny TCP DNS to
the others.  Real sockets on loopback: the hostile client's bound to 127.0.0.2, the
well-behaved one's from 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import resource
import socket
import struct
import time
from collections.abc import AsyncIterator

import dns.message
import dns.rcode
import pytest

from fedns.dnsserver import server, settings, tcp, zone

CONFIG = settings.Settings(zones=("example.com",))
HOSTILE = "127.0.0.2"


@pytest.fixture(autouse=True)
def enough_files():
    """Room for 600 client sockets and the server's side of them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.asynccontextmanager
async def serving(config: settings.Settings) -> AsyncIterator[tuple[server.Server, int]]:
    z = zone.Zone()
    z.put(b"/skydns/com/example/a", b'{"host":"192.0.2.1"}')
    srv = server.Server(z, config)
    _, port = await srv.start("127.0.0.1", 0)
    try:
        yield srv, port
    finally:
        await srv.close()


async def connect(port: int, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind((source, 0))
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def ask(port: int, source: str = "127.0.0.1", timeout: float = 5) -> str:
    """The rcode of an A query over a new TCP connection from ``source``."""
    loop = asyncio.get_running_loop()
    sock = await connect(port, source)
    try:
        message = dns.message.make_query("a.example.com.", "A").to_wire()
        await loop.sock_sendall(sock, struct.pack("!H", len(message)) + message)
        data = b""
        async with asyncio.timeout(timeout):
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    return "closed"
                data += chunk
        return dns.rcode.to_text(dns.message.from_wire(data[2:]).rcode())
    except ConnectionError:  # closed before our query arrived: a reset
        return "closed"
    finally:
        sock.close()


async def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.get_running_loop().sock_recv(sock, 16) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def until(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def total(srv: server.Server, name: str) -> float:
    return sum(v for k, v in srv.metrics().items() if k.split("{")[0] == name)


@pytest.fixture(autouse=True)
def no_errors_logged(caplog):
    """Connections refused, evicted or closed at shutdown log nothing."""
    yield
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


async def test_600_idle_connections_from_one_address_leave_tcp_to_others():
    async with serving(CONFIG) as (srv, port):
        hostile = []
        try:
            for _ in range(600):
                hostile.append(await connect(port, HOSTILE))
            # every one has reached the server: held, or closed at once
            await until(lambda: srv.metrics()["fedns_dns_tcp_connections"]
                        + total(srv, "fedns_dns_tcp_evicted_total")
                        + total(srv, "fedns_dns_tcp_rejected_total") >= 600,
                        "the server did not see the 600 connections")
            assert srv.metrics()["fedns_dns_tcp_connections"] <= CONFIG.tcp_per_client
            start = time.monotonic()
            assert await ask(port) == "NOERROR"
            assert time.monotonic() - start < 2
        finally:
            for sock in hostile:
                sock.close()


LIMITS = [
    # (id, settings, hostile connections, the first how many of them the server closes)
    ("per-client-cap-newest-replaces-own-idle",
     {"tcp_per_client": 4, "tcp_connections": 100}, 10, 6),
    ("full-pool-newcomer-replaces-longest-idle",
     {"tcp_per_client": 100, "tcp_connections": 6, "tcp_busy_idle_timeout": 60}, 6, 1),
]


@pytest.mark.parametrize(("limits", "opened", "closed"), [row[1:] for row in LIMITS],
                         ids=[row[0] for row in LIMITS])
async def test_limits_close_the_longest_idle_first(limits, opened, closed):
    config = dataclasses.replace(CONFIG, **limits)
    async with serving(config) as (srv, port):
        hostile = []
        try:
            for _ in range(opened):
                hostile.append(await connect(port, HOSTILE))
                await until(lambda: len(srv._connections) + srv._connections.evicted
                            >= len(hostile), "connection not admitted")
            assert await ask(port) == "NOERROR"
            outcome = [await closed_by_server(sock, 0.5 if i >= closed else 5)
                       for i, sock in enumerate(hostile)]
            assert outcome == [True] * closed + [False] * (opened - closed)
        finally:
            for sock in hostile:
                sock.close()


async def test_full_of_busy_connections_refuses_newcomers():
    """No idle connection to close: the newcomer is closed at once, counted."""
    config = dataclasses.replace(CONFIG, tcp_connections=2, tcp_per_client=10)
    async with serving(config) as (srv, port):
        busy = [await connect(port, HOSTILE) for _ in range(2)]
        try:
            for sock in busy:  # a length and part of the query: under way, not idle
                await asyncio.get_running_loop().sock_sendall(sock, b"\x00\x0cpart")
            await until(lambda: all(c.idle_since is None
                                    for c in srv._connections._open.values())
                        and len(srv._connections) == 2, "connections not busy")
            assert await ask(port) == "closed"
            assert srv.metrics()['fedns_dns_tcp_rejected_total{reason="full"}'] == 1
        finally:
            for sock in busy:
                sock.close()


async def test_idle_timeout_drops_while_half_the_slots_are_taken():
    """Below half: idle connections stay; at half, those idle longer than the short
    timeout go (and then the pool is below half again)."""
    config = dataclasses.replace(CONFIG, tcp_connections=6, tcp_idle_timeout=30,
                                 tcp_busy_idle_timeout=0.3)
    async with serving(config) as (srv, port):
        socks = [await connect(port, HOSTILE) for _ in range(2)]
        try:
            await until(lambda: len(srv._connections) == 2, "connections not admitted")
            assert [await closed_by_server(sock, 0.6) for sock in socks] == [False, False]
            socks.append(await connect(port, HOSTILE))
            start = time.monotonic()
            assert await closed_by_server(socks[0], 5)
            assert time.monotonic() - start < 3
            await until(lambda: len(srv._connections) < 3, "longest idle not released")
            assert not await closed_by_server(socks[2], 0.5)  # the newest, not idle long
        finally:
            for sock in socks:
                sock.close()


@pytest.mark.parametrize(("host", "key"), [
    ("192.0.2.1", "192.0.2.1"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("", ""),
])
def test_clients_are_counted_by_address_or_ipv6_64(host, key):
    assert tcp.client_key(host) == key


@pytest.mark.parametrize(("field", "value"), [
    ("tcp_connections", 0), ("tcp_per_client", -1), ("tcp_idle_timeout", 0.0),
    ("tcp_busy_idle_timeout", "1"), ("tcp_per_client", True),
])
def test_limits_must_be_positive_numbers(field, value):
    with pytest.raises(settings.BadSettings, match=field):
        dataclasses.replace(CONFIG, **{field: value})
