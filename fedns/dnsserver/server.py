"""DNS transport: UDP and TCP on asyncio, EDNS0 sizes, truncation, a response cache.

:class:`Server` turns packets into calls of the pure :func:`answer.answer` and back.
Every response is a function of (the request bytes after the ID, the client's site,
the transport, the zone version), so encoded responses are cached under that key
and a repeated query costs a dict lookup and an ID patch; any zone change empties
the cache.  UDP reads drain the socket on each readiness callback (no transport or
protocol object per datagram).  Nothing a client sends can stop the server: a packet
with no DNS header is dropped, one that does not parse gets FORMERR, and a failure
while answering gets SERVFAIL.

Not for: keeping the zone current (:mod:`fedns.dnsserver.source`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable

from dnslib import DNSRecord

from fedns.dnsserver import answer as answer_mod
from fedns.dnsserver import lookup
from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import zone as zone_mod

log = logging.getLogger(__name__)

UDP, TCP = 0, 1
CACHE_ENTRIES = 50_000
UDP_BATCH = 256  # datagrams handled per readiness callback before yielding
DEFAULT_TCP_IDLE = 10.0
MAX_TCP_CONNECTIONS = 512


def _error(data: bytes, rcode: int) -> bytes:
    """A bare response (no sections) to a query whose header parses."""
    ident, flags = struct.unpack_from("!HH", data)
    flags = 0x8000 | (flags & 0x7900) | rcode  # QR, opcode and RD copied
    return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)


def _udp_limit(request: DNSRecord, settings: settings_mod.Settings) -> int:
    for rr in request.ar:
        if rr.rtype == lookup.T_OPT:
            return min(max(512, rr.rclass), settings.max_udp_payload)
    return 512


def _truncated(reply: DNSRecord) -> bytes:
    """The reply with TC set and only the question (and OPT) left (RFC 2181 §9)."""
    reply.header.tc = 1
    reply.rr = []
    reply.auth = []
    reply.ar = [rr for rr in reply.ar if rr.rtype == lookup.T_OPT]
    return bytes(reply.pack())


class Server:
    """Answers DNS over UDP and TCP for ``zone`` with ``settings``."""

    def __init__(self, zone: zone_mod.Zone, settings: settings_mod.Settings, *,
                 tcp_idle_timeout: float = DEFAULT_TCP_IDLE,
                 ready: Callable[[], bool] | None = None) -> None:
        self.zone = zone
        # Until ready() (the zone's first load), every query gets SERVFAIL, uncached.
        self.ready = ready
        self.settings = settings
        self.tcp_idle_timeout = tcp_idle_timeout
        # counters for metrics(): queries per transport, responses per rcode
        self.queries = [0, 0]
        self.rcodes = [0] * 16
        self.cache_hits = 0
        # answers to global names by the tier they came from (zone, region, all)
        self.tiers: dict[str, int] = {"zone": 0, "region": 0, "all": 0}
        self._tier_of: dict[object, str] = {}  # cache key -> tier, to count cached hits
        self._computed_tier = ""
        self.dropped = 0
        self.truncated = 0
        # response minus its ID, per transport, keyed by the request minus its ID
        # (and the client's site when sites are configured)
        self._caches: tuple[dict[object, bytes], dict[object, bytes]] = ({}, {})
        self._cache_version = -1
        self._sites: dict[str, int] = {}
        self._udp: list[socket.socket] = []
        self._tcp: list[asyncio.AbstractServer] = []
        self._tcp_tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- answering ------------------------------------------------------------

    def _site_index(self, host: str) -> int:
        """A small integer for the client's site (0: none), cached per address."""
        index = self._sites.get(host)
        if index is None:
            found = None
            with contextlib.suppress(ValueError):
                found = self.settings.site_of(ipaddress.ip_address(host))
            index = 0 if found is None else 1 + self.settings.sites.index(found[0])
            if len(self._sites) > 100_000:
                self._sites.clear()
            self._sites[host] = index
        return index

    def _fresh_cache(self, transport: int) -> dict[object, bytes]:
        if self.zone.version != self._cache_version:
            for cache in self._caches:
                cache.clear()
            self._tier_of.clear()
            self._cache_version = self.zone.version
        return self._caches[transport]

    def respond(self, data: bytes, host: str, transport: int) -> bytes | None:
        """The response bytes for one query packet from ``host``, or None to drop it."""
        if len(data) < 12 or data[2] & 0x80:  # no header, or a response: drop
            self.dropped += 1
            return None
        if self.ready is not None and not self.ready():
            return self._unavailable(data)
        cache = self._fresh_cache(transport)
        key: object = (data[2:], self._site_index(host)) if self.settings.sites else data[2:]
        tail = cache.get(key)
        if tail is None:
            self._computed_tier = ""
            tail = self._compute(data, host, transport)
            if len(cache) >= CACHE_ENTRIES:
                cache.clear()
                self._tier_of.clear()
            cache[key] = tail
            if self._computed_tier:
                self._tier_of[key] = self._computed_tier
                self.tiers[self._computed_tier] += 1
        else:
            self.cache_hits += 1
            self._count_tier(key)
        self.rcodes[tail[1] & 0xF] += 1
        return data[:2] + tail

    def _count_tier(self, key: object) -> None:
        tier = self._tier_of.get(key)
        if tier:
            self.tiers[tier] += 1

    def _unavailable(self, data: bytes) -> bytes:
        try:
            reply = bytes(answer_mod.unavailable(DNSRecord.parse(data), self.settings).pack())
        except Exception:  # noqa: BLE001 - any parse failure is the client's
            reply = _error(data, answer_mod.FORMERR)
        self.rcodes[reply[3] & 0xF] += 1
        return reply

    def _compute(self, data: bytes, host: str, transport: int) -> bytes:
        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - any parse failure is the client's
            return _error(data, answer_mod.FORMERR)[2:]
        try:
            client = ipaddress.ip_address(host) if host else None
        except ValueError:
            client = None
        try:
            reply = answer_mod.answer(self.zone, request, client, self.settings)
            self._computed_tier = getattr(reply, "fedns_tier", "")
            wire = bytes(reply.pack())
            limit = _udp_limit(request, self.settings) if transport == UDP else 65535
            if len(wire) > limit:
                self.truncated += 1
                wire = _truncated(reply)
        except Exception:
            log.exception("answering %r failed", data[:64])
            return _error(data, answer_mod.SERVFAIL)[2:]
        return wire[2:]

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
                        self._count_tier(key)
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
        if len(self._tcp_tasks) >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        if task is not None:
            self._tcp_tasks.add(task)
        peer = writer.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else ""
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                    (length,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(length),
                                                  self.tcp_idle_timeout)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                self.queries[TCP] += 1
                reply = self.respond(data, host, TCP)
                if reply is None:
                    return  # not DNS: stop talking
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except Exception:
            log.exception("TCP connection failed")
        finally:
            if task is not None:
                self._tcp_tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # --- lifecycle -----------------------------------------------------------------

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on UDP and TCP ``host:port`` (port 0: a free port, the same for
        both); returns the bound address."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(20):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
                sock.bind((host, port))
                bound = sock.getsockname()[1]
                tcp = await asyncio.start_server(self._serve_tcp, host, bound,
                                                 reuse_address=True, backlog=512)
            except OSError:
                sock.close()
                if port:
                    raise
                continue  # the free UDP port was taken on TCP: try another
            break
        else:
            raise OSError(f"no free port on {host} for both UDP and TCP")
        loop.add_reader(sock, self._on_udp_readable, sock)
        self._udp.append(sock)
        self._tcp.append(tcp)
        return host, bound

    async def close(self) -> None:
        for sock in self._udp:
            if self._loop is not None:
                self._loop.remove_reader(sock)
            sock.close()
        self._udp.clear()
        for tcp in self._tcp:
            tcp.close()
        for task in list(self._tcp_tasks):
            task.cancel()
        for tcp in self._tcp:
            with contextlib.suppress(Exception):
                await tcp.wait_closed()
        self._tcp.clear()

    def metrics(self) -> dict[str, float]:
        """Current values of the metrics the README lists (label values in braces)."""
        out: dict[str, float] = {
            "fedns_dns_zone_records": len(self.zone),
            "fedns_dns_zone_revision": self.zone.revision,
            "fedns_dns_cache_entries": sum(len(c) for c in self._caches),
            "fedns_dns_cache_hits_total": self.cache_hits,
            "fedns_dns_dropped_total": self.dropped,
            "fedns_dns_truncated_total": self.truncated,
            'fedns_dns_requests_total{transport="udp"}': self.queries[UDP],
            'fedns_dns_requests_total{transport="tcp"}': self.queries[TCP],
        }
        for tier, value in self.tiers.items():
            out[f'fedns_dns_nearest_answers_total{{tier="{tier}"}}'] = value
        for rcode, value in enumerate(self.rcodes):
            if value:
                out[f'fedns_dns_responses_total{{rcode="{_RCODES.get(rcode, rcode)}"}}'] = value
        return out


_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
