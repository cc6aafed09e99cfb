"""DNS transport: UDP and TCP on asyncio, EDNS0 sizes, truncation, a response cache.

:class:`Server` turns packets into calls of the pure :func:`answer.respond` and back;
:mod:`fedns.dnsserver.wire` reads the common query by hand and writes responses
without dnslib objects.  Every response is a function of (the request bytes after
the ID, the client's site, the transport, what it read from the zone), so encoded
responses are cached under that key and a repeated query costs a dict lookup and an
ID patch; a zone change drops only the responses it can alter
(:mod:`fedns.dnsserver.cache`).  UDP reads drain the socket on each readiness
callback (no transport or protocol object per datagram).  Nothing a client sends can
stop the server: a packet with no DNS header is dropped, one that does not parse gets
FORMERR, and a failure while answering gets SERVFAIL.

Not for: keeping the zone current (:mod:`fedns.dnsserver.source`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable

from fedns import errors
from fedns.dnsserver import answer as answer_mod
from fedns.dnsserver import cache as cache_mod
from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import tcp as tcp_mod
from fedns.dnsserver import wire
from fedns.dnsserver import zone as zone_mod

log = logging.getLogger(__name__)

UDP, TCP = 0, 1
CACHE_ENTRIES = 50_000
# More zone changes than this between two queries: drop the whole cache rather than
# find what each one affects (a few µs each, paid at once by the next query).
CHANGES_BEFORE_CLEAR = 4096
SOA = 6
UDP_BATCH = 256  # datagrams handled per readiness callback before yielding
DEFAULT_TCP_IDLE = settings_mod.Settings.tcp_idle_timeout
TCP_BACKLOG = 512


def _error(data: bytes, rcode: int) -> bytes:
    """A bare response (no sections) to a query whose header parses."""
    ident, flags = struct.unpack_from("!HH", data)
    flags = 0x8000 | (flags & 0x7900) | rcode  # QR, opcode and RD copied
    return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)


def _udp_limit(query: wire.Query, settings: settings_mod.Settings) -> int:
    if query.opts:
        return min(max(512, query.opts[0][0]), settings.max_udp_payload)
    return 512


def _serial_offset(encoded: bytes, response: wire.Response) -> int:
    """Where the SOA serial is in ``encoded`` (all of ``response``): the SOA is the
    last record before the OPT, its serial the first of its five closing numbers;
    cache.NO_SERIAL when the response is not laid out so."""
    records = response.authority or response.answer
    if not records or response.additional or records[-1][1] != SOA:
        return cache_mod.NO_SERIAL
    end = len(encoded) - len(response.opt or b"")
    if encoded[end - 20:end] != records[-1][3][-1]:
        return cache_mod.NO_SERIAL
    return end - 20


class Server:
    """Answers DNS over UDP and TCP for ``zone`` with ``settings``."""

    def __init__(self, zone: zone_mod.Zone, settings: settings_mod.Settings, *,
                 tcp_idle_timeout: float | None = None,
                 ready: Callable[[], bool] | None = None) -> None:
        self.zone = zone
        # Until ready() (the zone's first load), every query gets SERVFAIL, uncached.
        self.ready = ready
        if tcp_idle_timeout is not None:
            settings = dataclasses.replace(settings, tcp_idle_timeout=tcp_idle_timeout)
        self.settings = settings
        self._connections = tcp_mod.Connections(settings)
        # counters for metrics(): queries per transport, responses per rcode
        self.queries = [0, 0]
        self.rcodes = [0] * 16
        self.cache_hits = 0
        # answers to global names by the tier they came from (zone, region, all)
        self.tiers: dict[str, int] = {"zone": 0, "region": 0, "all": 0}
        self.dropped = 0
        self.truncated = 0
        # response minus its ID, per transport, keyed by the request minus its ID
        # (and the client's site when sites are configured)
        self._cache = cache_mod.ResponseCache(CACHE_ENTRIES, slots=2)
        self._cache_version = zone.version
        self._cache_revision = zone.revision
        self._sites: dict[str, int] = {}
        self._clients: dict[str, settings_mod.IPAddress | None] = {}
        self._udp: list[socket.socket] = []
        self._tcp: list[asyncio.AbstractServer] = []
        self._tcp_tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- answering ------------------------------------------------------------

    def _site_index(self, host: str) -> int:
        """A small integer for the client's site (0: none), cached per address."""
        index = self._sites.get(host)
        if index is None:
            address = self._client(host)
            found = self.settings.site_of(address) if address is not None else None
            index = 0 if found is None else 1 + self.settings.sites.index(found[0])
            if len(self._sites) > 100_000:
                self._sites.clear()
            self._sites[host] = index
        return index

    def _client(self, host: str) -> settings_mod.IPAddress | None:
        """The client's address, parsed once per address; only sites need it."""
        if not self.settings.sites:
            return None
        try:
            return self._clients[host]
        except KeyError:
            pass
        address = None
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(host) if host else None
        if len(self._clients) > 100_000:
            self._clients.clear()
        self._clients[host] = address
        return address

    def _fresh_cache(self, transport: int) -> dict[object, bytes]:
        """The transport's cache entries, after dropping those the zone's changes
        since the last call can alter."""
        zone = self.zone
        if zone.version != self._cache_version:
            changed = zone.changed_since(self._cache_version, CHANGES_BEFORE_CLEAR)
            if changed is None:
                self._cache.clear()
            else:
                self._cache.changed(changed)
            self._cache_version = zone.version
        if zone.revision != self._cache_revision:
            self._cache.new_revision()
            self._cache_revision = zone.revision
        return self._cache.entries[transport]

    def respond(self, data: bytes, host: str, transport: int) -> bytes | None:
        """The response bytes for one query packet from ``host``, or None to drop it."""
        if len(data) < 12 or data[2] & 0x80:  # no header, or a response: drop
            self.dropped += 1
            return None
        if self.ready is not None and not self.ready():
            return self._unavailable(data)
        entries = self._fresh_cache(transport)
        key: object = (data[2:], self._site_index(host)) if self.settings.sites else data[2:]
        tail = entries.get(key)
        serial = self.zone.revision & 0xFFFFFFFF
        if tail is None:  # not there, or one holding the SOA serial
            tail = self._cache.get(transport, key, serial)
        if tail is None:
            tail, reads, serial_at, tier = self._compute(data, host, transport)
            self._cache.put(transport, key, tail, reads, serial_at, serial, tier)
            if tier:
                self.tiers[tier] += 1
        else:
            self.cache_hits += 1
            self._count_tier(transport, key)
        self.rcodes[tail[1] & 0xF] += 1
        return data[:2] + tail

    def _count_tier(self, transport: int, key: object) -> None:
        tiers = self._cache.tiers
        if tiers:
            tier = tiers.get((transport, key))
            if tier:
                self.tiers[tier] += 1

    def _unavailable(self, data: bytes) -> bytes:
        try:
            reply = wire.encode(answer_mod.unavailable(wire.parse(data), self.settings))
        except Exception:  # noqa: BLE001 - any parse failure is the client's
            reply = _error(data, answer_mod.FORMERR)
        self.rcodes[reply[3] & 0xF] += 1
        return reply

    def _compute(self, data: bytes, host: str, transport: int
                 ) -> tuple[bytes, list[bytes] | None, int, str]:
        """The response minus its ID, the zone key paths it read (None: unknown), the
        offset of the SOA serial in it (cache.NO_SERIAL: none) and its nearest-answer
        tier."""
        try:
            query = wire.parse(data)
        except wire.BadPacket:
            return _error(data, answer_mod.FORMERR)[2:], [], cache_mod.NO_SERIAL, ""
        try:
            result = answer_mod.respond(self.zone, query, self._client(host), self.settings)
            response = result.response
            encoded = wire.encode(response)
            serial_at = _serial_offset(encoded, response) if result.serial else cache_mod.NO_SERIAL
            limit = _udp_limit(query, self.settings) if transport == UDP else 65535
            if len(encoded) > limit:
                self.truncated += 1
                encoded = wire.encode(response, truncated=True)
                serial_at = cache_mod.NO_SERIAL
        except Exception:
            log.exception("answering %r failed", data[:64])
            return _error(data, answer_mod.SERVFAIL)[2:], None, cache_mod.NO_SERIAL, ""
        if result.serial and serial_at == cache_mod.NO_SERIAL:
            # holds the serial where it cannot be patched: drop on the next revision
            return encoded[2:], None, serial_at, result.tier
        return encoded[2:], result.reads, serial_at - 2 if result.serial else serial_at, result.tier

    # --- UDP -------------------------------------------------------------------

    def _on_udp_readable(self, sock: socket.socket) -> None:
        # The hot path: a cached answer costs a slice, a dict lookup and an ID patch.
        # A short packet or a response can never hit: only queries are cached.
        recv, send = sock.recvfrom, sock.sendto
        get = self._fresh_cache(UDP).get
        rcodes = self.rcodes
        site_index = self._site_index if self.settings.sites else None
        hits = count = 0
        try:
            for _ in range(UDP_BATCH):
                try:
                    data, address = recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue
                count += 1
                if site_index is None:
                    tail = get(data[2:])
                else:
                    key = (data[2:], site_index(address[0]))
                    tail = get(key)
                    if tail is not None:
                        self._count_tier(UDP, key)
                if tail is not None:
                    hits += 1
                    rcodes[tail[1] & 0xF] += 1
                    reply = data[:2] + tail
                else:
                    try:
                        computed = self.respond(data, address[0], UDP)
                    except Exception:
                        log.exception("UDP query failed")
                        continue
                    if computed is None:
                        continue
                    reply = computed
                try:
                    send(reply, address)
                except OSError:  # full buffer or gone: drop, as UDP may
                    pass
        finally:
            self.queries[UDP] += count
            self.cache_hits += hits

    # --- TCP -------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else ""
        loop = asyncio.get_running_loop()
        connections = self._connections
        # Closing an idle connection's transport (to make room, or in a sweep) ends
        # its wait for the next query: the read sees EOF.
        if task is None or not connections.admit(task, host, writer.close, loop.time()):
            writer.close()
            return
        self._tcp_tasks.add(task)
        if self._sweeper is None:
            self._sweeper = loop.call_later(connections.sweep_every(), self._sweep)
        query_timeout = self.settings.tcp_idle_timeout  # once a query has begun
        try:
            while True:
                connections.idle(task, loop.time())
                try:
                    head = await reader.readexactly(2)
                    connections.busy(task)
                    (length,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(length), query_timeout)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                self.queries[TCP] += 1
                reply = self.respond(data, host, TCP)
                if reply is None:
                    return  # not DNS: stop talking
                writer.write(struct.pack("!H", len(reply)) + reply)
                try:  # a client that sends but never reads must not hold its slot
                    await asyncio.wait_for(writer.drain(), query_timeout)
                except (TimeoutError, ConnectionError):
                    return
        except Exception:
            log.exception("TCP connection failed")
        finally:
            connections.release(task)
            self._tcp_tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _sweep(self) -> None:
        """Close the connections idle too long; again later while any is open."""
        self._sweeper = None
        if self._loop is None:
            return
        self._connections.sweep(self._loop.time())
        if self._connections:
            self._sweeper = self._loop.call_later(self._connections.sweep_every(), self._sweep)

    # --- lifecycle -----------------------------------------------------------------

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on UDP and TCP ``host:port`` (port 0: a free port, the same for
        both); returns the bound address."""
        udp, tcp = bind(host, port)
        await self.serve(udp, tcp)
        return host, udp.getsockname()[1]

    async def serve(self, udp: socket.socket, tcp: socket.socket) -> None:
        """Answer on sockets :func:`bind` made (here or in a parent process); the
        server closes them in :meth:`close`.  Several processes may serve the same
        sockets: each datagram and connection goes to one of them."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        udp.setblocking(False)
        tcp.setblocking(False)
        server = await asyncio.start_server(self._serve_tcp, sock=tcp, backlog=TCP_BACKLOG)
        loop.add_reader(udp, self._on_udp_readable, udp)
        self._udp.append(udp)
        self._tcp.append(server)

    async def close(self) -> None:
        for sock in self._udp:
            if self._loop is not None:
                self._loop.remove_reader(sock)
            sock.close()
        self._udp.clear()
        for tcp in self._tcp:
            tcp.close()
        # Closing each connection ends its task (its read sees EOF, its write fails);
        # a cancelled one would have asyncio 3.11 log its CancelledError.
        self._connections.close_all()
        tasks = list(self._tcp_tasks)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=1.0)
            for task in stuck:
                task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for tcp in self._tcp:
            with contextlib.suppress(Exception):
                await tcp.wait_closed()
        self._tcp.clear()

    def metrics(self) -> dict[str, float]:
        """Current values of the metrics the README lists (label values in braces)."""
        out: dict[str, float] = {
            "fedns_dns_zone_records": len(self.zone),
            "fedns_dns_zone_revision": self.zone.revision,
            "fedns_dns_cache_entries": len(self._cache),
            "fedns_dns_cache_hits_total": self.cache_hits,
            "fedns_dns_dropped_total": self.dropped,
            "fedns_dns_truncated_total": self.truncated,
            "fedns_dns_tcp_connections": len(self._connections),
            "fedns_dns_tcp_evicted_total": self._connections.evicted,
            'fedns_dns_requests_total{transport="udp"}': self.queries[UDP],
            'fedns_dns_requests_total{transport="tcp"}': self.queries[TCP],
        }
        for reason, value in self._connections.rejected.items():
            out[f'fedns_dns_tcp_rejected_total{{reason="{reason}"}}'] = value
        for tier, value in self.tiers.items():
            out[f'fedns_dns_nearest_answers_total{{tier="{tier}"}}'] = value
        for rcode, value in enumerate(self.rcodes):
            if value:
                out[f'fedns_dns_responses_total{{rcode="{_RCODES.get(rcode, rcode)}"}}'] = value
        return out


def bind(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a listening TCP socket on ``host:port`` (port 0: a free port,
    the same for both), not yet served; :class:`errors.CannotListen` when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        transport = "UDP"
        try:
            with contextlib.suppress(OSError):
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            udp.bind((host, port))
            bound = udp.getsockname()[1]
            transport = "TCP"
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, bound))
            tcp.listen(TCP_BACKLOG)
        except OSError as err:
            udp.close()
            tcp.close()
            if port:
                raise errors.CannotListen.because(
                    f"{host}:{port} ({transport})", err) from err
            continue  # the free UDP port was taken on TCP: try another
        return udp, tcp
    raise errors.CannotListen(f"no free port on {host} for both UDP and TCP")


_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
