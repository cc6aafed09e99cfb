"""DNS server processes: the zone's watch and the answers on cores of their own.

``fedns run`` with ``dns.workers: N`` (N > 0) binds the DNS sockets itself and starts
N children (``python -m fedns.dnsserver.child``) that inherit them.  Each child
keeps its own Zone current from the Store and answers from it, so neither the
zone's watch nor the answers wait for the controller's event loop.  A Python
process runs one thread at a time, so in-process they would share one core with
reconciling.  Each datagram and connection goes to one child.

A child reports on its stdout, one JSON line at a time: that its zone is loaded,
then its metrics every second.  It exits when its stdin closes, so it never outlives
the appliance, even when the appliance is killed.  A child that dies is started
again after 1 s, then 2, 4 ... up to 30 s while it keeps dying.

Not for: answering (server.py) or a memory:// Store, which lives in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from typing import Self

from fedns.dnsserver import daemon
from fedns.dnsserver import server as server_mod
from fedns.dnsserver import settings as settings_mod

log = logging.getLogger(__name__)

REPORT_EVERY = 1.0  # seconds between a child's metric reports
STOP_TIMEOUT = 5.0  # seconds a child has to exit once its stdin closes
RESTART_DELAY = 1.0  # seconds before a dead child is started again; doubled each time
MAX_RESTART_DELAY = 30.0
STEADY = 30.0  # a child that ran this long before dying is restarted after 1 s again


def merge(reports: list[dict[str, float]]) -> dict[str, float]:
    """The children's metrics as one server's: counters (``*_total``) add up, gauges
    (zone size and revision, cache entries) take the largest."""
    out: dict[str, float] = {}
    for report in reports:
        for name, value in report.items():
            if "_total" in name:
                out[name] = out.get(name, 0.0) + value
            else:
                out[name] = max(out.get(name, value), value)
    return out


class _Child:
    """One child process and what it last said."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.name = f"dns-{index}"
        self.proc: asyncio.subprocess.Process | None = None
        self.synced = asyncio.Event()
        # counters of the processes this child was before a restart, so totals never
        # go down
        self.earlier: dict[str, float] = {}
        self.metrics: dict[str, float] = {}

    def totals(self) -> dict[str, float]:
        return merge([self.earlier, self.metrics]) if self.earlier else self.metrics


class Workers:
    """``count`` DNS server processes serving ``settings`` from the Store at
    ``store_url`` on ``listen``; :meth:`start`, then :meth:`stop`."""

    def __init__(self, store_url: str, settings: settings_mod.Settings, listen: str,
                 count: int, *, sync_timeout: float = 10.0) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.store_url = store_url
        self.settings = settings
        self.listen = listen
        self.sync_timeout = sync_timeout
        self.children = [_Child(i) for i in range(count)]
        self.address: tuple[str, int] = ("", 0)
        self.restarts = 0
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    def synced(self) -> bool:
        """Every child serves a loaded zone."""
        return all(c.synced.is_set() for c in self.children)

    def metrics(self) -> dict[str, float]:
        """The children's DNS metrics merged (each as of its last report)."""
        return merge([c.totals() for c in self.children])

    async def start(self) -> None:
        """Bind, start every child and wait (up to ``sync_timeout``) for their zones."""
        host, port = daemon.parse_listen(self.listen)
        self._sockets = server_mod.bind(host, port)
        self.address = (host, self._sockets[0].getsockname()[1])
        try:
            for child in self.children:
                await self._spawn(child)
                self._tasks.append(asyncio.create_task(self._supervise(child),
                                                       name=f"dns-worker-{child.index}"))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sync_timeout):
                    for child in self.children:
                        await child.synced.wait()
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, child: _Child) -> None:
        assert self._sockets is not None
        udp, tcp = self._sockets
        child.synced.clear()
        child.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fedns.dnsserver.child",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            pass_fds=(udp.fileno(), tcp.fileno()))
        spec = {"store": self.store_url, "settings": settings_mod.to_json(self.settings),
                "udp": udp.fileno(), "tcp": tcp.fileno(), "report": REPORT_EVERY,
                "sync_timeout": self.sync_timeout, "name": child.name}
        assert child.proc.stdin is not None
        child.proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await child.proc.stdin.drain()

    async def _listen(self, child: _Child) -> None:
        """Take in what the child says until its stdout closes."""
        assert child.proc is not None and child.proc.stdout is not None
        async for line in child.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("%s said %r", child.name, line[:200])
                continue
            if message.get("synced"):
                child.synced.set()
            if isinstance(message.get("metrics"), dict):
                child.metrics = message["metrics"]

    async def _supervise(self, child: _Child) -> None:
        delay = RESTART_DELAY
        while True:
            began = time.monotonic()
            if child.proc is not None:
                await self._listen(child)
                code: int | str = await child.proc.wait()
            else:
                code = "unknown (it could not be started)"
            if self._stopping:
                return
            child.synced.clear()
            # the gauges of a dead process are gone; its counters still count
            child.earlier = merge([child.earlier,
                                   {k: v for k, v in child.metrics.items() if "_total" in k}])
            child.metrics = {}
            if time.monotonic() - began >= STEADY:
                delay = RESTART_DELAY
            log.error("DNS worker %s exited with status %s; starting it again in %.0f s",
                      child.name, code, delay)
            await asyncio.sleep(delay)
            delay = min(MAX_RESTART_DELAY, delay * 2)
            self.restarts += 1
            try:
                await self._spawn(child)
            except OSError as err:  # no process, or it died before reading its spec
                log.error("DNS worker %s: %s", child.name, err)
                if child.proc is not None and child.proc.returncode is None:
                    child.proc.kill()
                    await child.proc.wait()
                child.proc = None

    async def stop(self) -> None:
        """Close every child's stdin, wait for it to exit (kill it after
        ``STOP_TIMEOUT``), then close the sockets."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for child in self.children:
            proc = child.proc
            if proc is None or proc.returncode is not None:
                continue
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await proc.wait()
            except TimeoutError:
                log.warning("DNS worker %s did not stop; killing it", child.name)
                proc.kill()
                await proc.wait()
        if self._sockets is not None:
            for sock in self._sockets:
                sock.close()
            self._sockets = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
