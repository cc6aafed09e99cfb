"""Store leases for objects that expire (Events), shared the way kube-apiserver shares them.

kube-apiserver stores each Event on an etcd lease of ``--event-ttl`` (1 h by default),
attached again at every write, so an Event disappears a TTL after it was last
written, with no sweeper.  Granting one lease per write would cost a round trip each;
like kube-apiserver's lease manager, :class:`Leases` grants ``ttl + reuse`` seconds
(``reuse`` = 5 % of the TTL, at most 60 s) and hands the same lease to the writes of
the next ``reuse`` seconds (at most 1,000 objects), so an object lives between ``ttl``
and ``ttl + reuse`` seconds after its last write.  Not for: keeping anything alive
(nobody renews these leases), or deciding which kinds expire (:mod:`fedns.kapi.storage`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from fedns.store import base

REUSE_SECONDS = 60  # the most a lease is handed out for, as kube-apiserver's default
REUSE_FRACTION = 0.05  # ... and at most this part of the TTL
MAX_OBJECTS = 1000  # objects attached to one lease at most


class Leases:
    """Leases of one TTL over ``store``; ``await lease()`` before each write."""

    def __init__(self, store: base.Store, ttl: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError(f"lease TTL must be positive, got {ttl}")
        self.store = store
        self.ttl = ttl
        self.reuse = max(0, min(REUSE_SECONDS, int(ttl * REUSE_FRACTION)))
        self.clock = clock
        self._id = 0
        self._expires = 0.0  # by ``clock``, what the grant promised
        self._attached = 0
        self._lock = asyncio.Lock()
        self.granted = 0  # leases granted so far (for tests and metrics)

    async def lease(self) -> int:
        """A lease that lasts at least ``ttl`` seconds from now."""
        async with self._lock:
            now = self.clock()
            if self._id and now + self.ttl <= self._expires and \
                    self._attached < MAX_OBJECTS:
                self._attached += 1
                return self._id
            granted = await self.store.grant(self.ttl + self.reuse)
            self._id, self._expires, self._attached = granted.id, now + granted.ttl, 1
            self.granted += 1
            return self._id

    def forget(self, lease_id: int) -> None:
        """The Store no longer has ``lease_id`` (a write said LeaseNotFound): the next
        write gets a fresh one."""
        if lease_id == self._id:
            self._id = 0
