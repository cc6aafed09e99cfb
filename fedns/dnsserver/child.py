"""One DNS server process of ``fedns run`` (``dns.workers``; started by workers.py).

``python -m fedns.dnsserver.child`` inherits the DNS sockets and reads one JSON line
on stdin: ``{"store": URL, "settings": <settings.to_json>, "udp": FD, "tcp": FD,
"report": SECONDS, "sync_timeout": SECONDS, "name": NAME}``.  It keeps its own Zone
current from the Store and answers on the sockets.  On stdout it writes JSON lines: ``{"synced": true}`` once
its zone is loaded, then ``{"metrics": {...}}`` every ``report`` seconds when they
changed.  It exits when its stdin closes, which is when the parent stops it or is
gone, killed or not: a child never serves on after its appliance.  It ignores SIGINT
and SIGTERM (a terminal's Ctrl-C, ``timeout`` or systemd's stop reach the whole process
group; the parent stops its children itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from typing import Any

from fedns import gctune
from fedns import store as store_mod
from fedns.dnsserver import daemon
from fedns.dnsserver import settings as settings_mod
from fedns.store import base as store_base

log = logging.getLogger(__name__)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _report(handle: daemon.Running, every: float) -> None:
    await handle.source.synced.wait()
    _say({"synced": True})
    said: dict[str, float] = {}
    while True:
        now = handle.server.metrics()
        if now != said:
            _say({"metrics": now})
            said = now
        await asyncio.sleep(every)


async def _open(url: str) -> store_base.Store:
    """The Store, however long it takes: a child started while etcd is down waits
    for it (the parent reports it unready meanwhile) instead of dying over and over."""
    delay = 0.5
    while True:
        try:
            return await store_mod.open_store(url)
        except store_base.Unavailable as err:
            log.warning("%s; retrying in %.1f s", err, delay)
        await asyncio.sleep(delay)
        delay = min(5.0, delay * 2)


async def serve(spec: dict[str, Any]) -> None:
    """Serve as ``spec`` says until cancelled (or stdout breaks: the parent is gone)."""
    settings = settings_mod.from_json(spec["settings"])
    udp = socket.socket(fileno=spec["udp"])
    tcp = socket.socket(fileno=spec["tcp"])
    store = await _open(spec["store"])
    try:
        # queries wait in the sockets' queues while the zone loads (as in-process)
        async with daemon.running(store, settings, sockets=(udp, tcp),
                                  sync_timeout=float(spec.get("sync_timeout", 10.0))) as handle:
            gctune.tune()
            await _report(handle, float(spec.get("report", 1.0)))
    finally:
        await store.close()


async def main() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = await reader.readline()
    if not line:
        return 0  # the parent went away before saying anything
    spec = json.loads(line)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s {spec.get('name', 'dns')} "
                               "%(name)s: %(message)s")
    parent_gone = asyncio.ensure_future(reader.read())  # EOF: stopped, or the parent died
    serving = asyncio.ensure_future(serve(spec))
    try:
        await asyncio.wait({serving, parent_gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (serving, parent_gone):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, BrokenPipeError):
            await serving  # a broken stdout: the parent is gone
    return 0


if __name__ == "__main__":
    # Ctrl-C in a terminal, `timeout` and systemd's stop signal the whole process
    # group: the parent stops its children itself (closing their stdin), so they do not
    # die first and get restarted as if they had crashed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(asyncio.run(main()))
