"""A lean HTTP/1.1 client for the load generator: keep-alive connections, JSON bodies.

The convergence benchmark sends thousands of requests a second to the simulated
members on the machine it measures; aiohttp's client spent ~0.2 ms of CPU on each,
nearly half a core taken from the system under test.  This one writes a request with
one ``write`` and parses only the status line and the body's framing
(Content-Length or chunked): a few tens of microseconds.  Plain ``http://`` only; one
request at a time per connection; a pool of connections per host.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any


class _Conn(asyncio.Protocol):
    """One connection: answers come back in order, one per request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        status = self._parse()
        if status is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def _parse(self) -> int | None:
        """The status of a complete response at the front of the buffer (consumed)."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        body = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            at = body
            while True:
                eol = self.buf.find(b"\r\n", at)
                if eol < 0:
                    return None
                size = int(self.buf[at:eol].split(b";")[0], 16)
                at = eol + 2 + size + 2
                if len(self.buf) < at:
                    return None
                if size == 0:
                    break
        else:
            at = body + int(headers.get("content-length", "0"))
            if len(self.buf) < at:
                return None
        self.buf = self.buf[at:]
        return status


class Client:
    """``await request(method, url, body)`` -> HTTP status; ``limit`` connections per
    host at most (callers bound their concurrency themselves)."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    async def request(self, method: str, url: str, body: Any = None) -> int:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"{url}: only http:// URLs")
        where = (parts.hostname, parts.port or 80)
        idle = self._idle.setdefault(where, [])
        while idle and idle[-1].closed:
            idle.pop()
        if idle:
            conn = idle.pop()
        else:
            _, conn = await asyncio.get_running_loop().create_connection(_Conn, *where)
        payload = b"" if body is None else json.dumps(body).encode()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        head = (f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        conn.waiter = asyncio.get_running_loop().create_future()
        assert conn.transport is not None
        conn.transport.write(head.encode() + payload)
        status = await conn.waiter
        conn.waiter = None
        if len(idle) < self.limit:
            idle.append(conn)
        else:
            conn.transport.close()
        return status

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
