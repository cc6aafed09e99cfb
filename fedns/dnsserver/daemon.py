"""Run the embedded DNS server: a Zone fed from a Store, served on UDP and TCP.

:func:`serve` is what ``fedns dns --store URL --zone D --listen ADDR:PORT`` calls;
:func:`running` embeds the same thing in a larger process (``fedns run``, ``fedns
demo``) that already holds a Store.  Not for: parsing command lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fedns.dnsserver import leases as leases_mod
from fedns.dnsserver import server as server_mod
from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import source as source_mod
from fedns.dnsserver import zone as zone_mod
from fedns.store import base

DEFAULT_LISTEN = "127.0.0.1:53"


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[V6]:PORT`` or ``:PORT`` (all IPv4 addresses) → (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise settings_mod.BadSettings(f"listen address {text!r} is not ADDR:PORT")
    return host, int(port)


def parse_site(text: str) -> settings_mod.Site:
    """``NAME:REGION:ZONE=CIDR[,CIDR...]`` (the ``--site`` option) → a Site."""
    head, sep, cidrs = text.partition("=")
    parts = head.split(":")
    if not sep or len(parts) != 3 or not all(parts) or not cidrs:
        raise settings_mod.BadSettings(f"site {text!r} is not NAME:REGION:ZONE=CIDR[,CIDR...]")
    return settings_mod.Site.make(parts[0], parts[1], parts[2], cidrs.split(","))


@dataclasses.dataclass
class Running:
    """A serving DNS server: its bound address, zone, server and zone source."""

    address: tuple[str, int]
    zone: zone_mod.Zone
    server: server_mod.Server
    source: source_mod.ZoneSource


@contextlib.asynccontextmanager
async def running(store: base.Store, settings: settings_mod.Settings,
                  listen: str = DEFAULT_LISTEN, *, sync_timeout: float = 10.0,
                  sockets: tuple[socket.socket, socket.socket] | None = None
                  ) -> AsyncIterator[Running]:
    """Serve ``settings.zones`` from ``store`` on ``listen`` for the ``with`` body, or
    on ``sockets`` (UDP, listening TCP) bound already.  Waits up to ``sync_timeout``
    for the first listing of the Store; until it has been applied, queries get
    SERVFAIL (an empty zone would deny every name)."""
    host, port = parse_listen(listen)
    zone = zone_mod.Zone(settings.prefix,
                         leases_mod.Leases(settings.lease_min_ttl, settings.lease_max_ttl))
    source = source_mod.ZoneSource(store, zone)
    feed = asyncio.create_task(source.run(), name="dns-zone-source")
    server = server_mod.Server(zone, settings, ready=source.synced.is_set)
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(source.synced.wait(), sync_timeout)
        if sockets is None:
            address = await server.start(host, port)
        else:
            await server.serve(*sockets)
            bound = sockets[0].getsockname()
            address = (bound[0], bound[1])
        yield Running(address, zone, server, source)
    finally:
        await server.close()
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed


def settings_for(zone: str | Sequence[str], *, prefix: str = "/skydns",
                 sites: Sequence[settings_mod.Site] = (), ns_names: Sequence[str] = (),
                 ns_addresses: Sequence[str] = (), **tuning: Any) -> settings_mod.Settings:
    """The settings :func:`serve` uses for its arguments; ``tuning`` sets other
    :class:`.settings.Settings` fields (``tcp_connections=64``)."""
    zones = (zone,) if isinstance(zone, str) else tuple(zone)
    return settings_mod.Settings(zones=zones, prefix=prefix, sites=tuple(sites),
                                 ns_names=tuple(ns_names), ns_addresses=tuple(ns_addresses),
                                 **tuning)


async def serve(store_url: str, zone: str | Sequence[str], listen: str = DEFAULT_LISTEN, *,
                prefix: str = "/skydns", sites: Sequence[settings_mod.Site] = (),
                ns_names: Sequence[str] = (), ns_addresses: Sequence[str] = (),
                started: Callable[[tuple[str, int]], None] | None = None,
                **tuning: Any) -> None:
    """Serve the SkyDNS zone(s) ``zone`` held in the Store at ``store_url`` on
    ``listen`` (UDP and TCP) until cancelled.  ``started`` is called with the bound
    (host, port) once queries are answered.  Raises UsageError subclasses for bad
    settings and the Store's errors when it cannot be opened."""
    from fedns import store as store_mod

    settings = settings_for(zone, prefix=prefix, sites=sites, ns_names=ns_names,
                            ns_addresses=ns_addresses, **tuning)
    parse_listen(listen)  # a bad address fails before the Store is opened
    store = await store_mod.open_store(store_url)
    try:
        async with running(store, settings, listen) as handle:
            if started is not None:
                started(handle.address)
            await asyncio.Event().wait()
    finally:
        await store.close()
