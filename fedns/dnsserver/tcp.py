"""Who may hold a TCP connection to the DNS server, and who goes when slots run short.

One client must not deny TCP DNS to the others by holding idle connections (RFC 7766
§6.2.3 lets a server limit them and close idle ones early).  :class:`Connections`
keeps the open connections of one server process and decides, as nsd, unbound and
dnsdist do in their ways:

- a client (an IPv4 address, or an IPv6 /64: one host has a whole /64) holds at most
  ``tcp_per_client`` connections: a new one takes the place of that client's longest
  idle connection, else it is closed at once;
- at most ``tcp_connections`` are open in all: when full, a new connection takes the
  place of the longest idle one, else it is closed at once;
- a connection waits ``tcp_idle_timeout`` for its next query, only
  ``tcp_busy_idle_timeout`` while half the slots or more are taken (for every idle
  connection, the ones already waiting too: :meth:`Connections.sweep` runs a few
  times per timeout while connections are open).

"Idle" is a connection waiting for the first bytes of its next query; one being
read or answered is never closed for another.  Pure bookkeeping: the server owns the
sockets and passes in the time and a function that closes each connection.

Not for: reading or answering queries (:mod:`fedns.dnsserver.server`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable

from fedns.dnsserver import settings as settings_mod


class _Connection:
    __slots__ = ("client", "close", "idle_since")

    def __init__(self, client: str, close: Callable[[], None], now: float) -> None:
        self.client = client
        self.close = close
        self.idle_since: float | None = now  # None while a query is read or answered


def client_key(host: str) -> str:
    """The address the limits count by: ``host`` itself, or its /64 for IPv6."""
    if ":" not in host:
        return host
    try:
        network = ipaddress.IPv6Network((host.split("%", 1)[0], 64), strict=False)
    except ValueError:
        return host
    return str(network)


class Connections:
    """The open TCP connections of one server, under ``settings``' limits."""

    def __init__(self, settings: settings_mod.Settings) -> None:
        self.settings = settings
        self._open: dict[Hashable, _Connection] = {}
        self._per_client: dict[str, int] = {}
        # counters for metrics: refused by reason, idle ones closed to make room
        self.rejected = {"per_client": 0, "full": 0}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, key: Hashable, host: str, close: Callable[[], None], now: float) -> bool:
        """Whether the new connection ``key`` from ``host`` may stay; to make room it
        closes (``close`` of the other) a longest-idle connection.  ``close`` is how
        to close this one should it be chosen later."""
        client = client_key(host)
        settings = self.settings
        if self._per_client.get(client, 0) >= settings.tcp_per_client:
            reason, eligible = "per_client", lambda c: c.client == client
        elif len(self._open) >= settings.tcp_connections:
            reason, eligible = "full", lambda c: True
        else:
            reason = ""
        if reason and not self._evict(eligible):
            self.rejected[reason] += 1
            return False
        self._open[key] = _Connection(client, close, now)
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return True

    def _evict(self, eligible: Callable[[_Connection], bool]) -> bool:
        """Close the eligible connection idle longest; False when none is idle."""
        victim_key: Hashable = None
        since = float("inf")
        for key, connection in self._open.items():
            idle = connection.idle_since
            if idle is not None and idle < since and eligible(connection):
                victim_key, since = key, idle
        if since == float("inf"):
            return False
        victim = self._open[victim_key]
        self.release(victim_key)  # its slot is free now, whenever its task ends
        self.evicted += 1
        victim.close()
        return True

    def idle(self, key: Hashable, now: float) -> None:
        """``key`` waits for its next query from ``now``."""
        connection = self._open.get(key)
        if connection is not None:
            connection.idle_since = now

    def idle_timeout(self) -> float:
        """How long a connection may wait for its next query, now."""
        settings = self.settings
        if 2 * len(self._open) >= settings.tcp_connections:
            return min(settings.tcp_busy_idle_timeout, settings.tcp_idle_timeout)
        return settings.tcp_idle_timeout

    def sweep_every(self) -> float:
        """How often :meth:`sweep` should run while connections are open: a fraction
        of the shorter timeout, so one is closed at most that late."""
        settings = self.settings
        shortest = min(settings.tcp_busy_idle_timeout, settings.tcp_idle_timeout)
        return min(1.0, max(0.02, shortest / 4))

    def sweep(self, now: float) -> int:
        """Close the connections idle longer than :meth:`idle_timeout` allows now (the
        limit drops for every connection as soon as the slots run short); how many."""
        oldest = now - self.idle_timeout()
        expired = [key for key, connection in self._open.items()
                   if connection.idle_since is not None and connection.idle_since <= oldest]
        for key in expired:
            connection = self._open[key]
            self.release(key)
            connection.close()
        return len(expired)

    def busy(self, key: Hashable) -> None:
        """``key`` is reading or answering a query: it is not idle."""
        connection = self._open.get(key)
        if connection is not None:
            connection.idle_since = None

    def close_all(self) -> None:
        """Close every connection (the server is stopping); each is released as its
        task ends."""
        for connection in list(self._open.values()):
            connection.close()

    def release(self, key: Hashable) -> None:
        """``key`` is closed (again: a no-op)."""
        connection = self._open.pop(key, None)
        if connection is None:
            return
        left = self._per_client[connection.client] - 1
        if left:
            self._per_client[connection.client] = left
        else:
            del self._per_client[connection.client]
