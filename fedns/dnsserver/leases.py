"""What the DNS zone knows of etcd leases: each one's remaining time, kept in memory.

CoreDNS's etcd plugin (1.12.4 and later, plugin/etcd/etcd.go ``TTL``) asks etcd for
the remaining time of a record's lease on every answer, clamps it to
``min-lease-ttl``..``max-lease-ttl`` (30 s..86,400 s by default) and answers the
smaller of that and the record's own ``ttl`` (the lease's alone when the record has
none, 300 s when neither is known).  fedns must not pay a Store round trip per
query, so :class:`Leases` holds each lease's deadline as last asked of the Store
(:mod:`fedns.dnsserver.source` asks when a lease first appears and every few seconds
after) and counts down in between.  Between two asks a kept-alive lease looks
shorter than it is (by up to the time since the last ask), never longer by more than
the half second etcd's rounding leaves unknown.

Not for: asking the Store (:mod:`fedns.dnsserver.source`) or rebuilding records
(:mod:`fedns.dnsserver.zone`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fedns.records import skydns

# CoreDNS's defaults (plugin/etcd/etcd.go defaultLeaseMinTTL, defaultLeaseMaxTTL).
MIN_TTL = 30
MAX_TTL = 86_400


def record_ttl(own: int, lease: int) -> int:
    """CoreDNS's ``Etcd.TTL``: the smaller of the record's own TTL and its lease's
    (clamped) TTL, whichever is set (0: not set), else the default 300."""
    if not own:
        return lease or skydns.DEFAULT_TTL
    if not lease:
        return own
    return min(own, lease)


class Leases:
    """The remaining time of the leases the zone's records sit on.

    ``clock`` is monotonic seconds (the event loop's clock by default)."""

    def __init__(self, min_ttl: int = MIN_TTL, max_ttl: int = MAX_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.clock = clock
        self._deadline: dict[int, float] = {}

    def __contains__(self, lease: int) -> bool:
        return lease in self._deadline

    def learn(self, lease: int, remaining: int | None) -> None:
        """The Store says ``lease`` has ``remaining`` whole seconds left now (None:
        it has no such lease)."""
        if remaining is None or remaining <= 0:
            # etcd: none, or under a second left (CoreDNS then ignores the lease)
            self._deadline.pop(lease, None)
        else:
            # etcd rounds down: the lease has up to a second more than it says;
            # take the middle, so a fresh answer is etcd's number for half a second
            self._deadline[lease] = self.clock() + remaining + 0.5

    def keep_only(self, leases: set[int]) -> None:
        """Forget every lease but ``leases`` (no record sits on the others)."""
        for lease in [lease for lease in self._deadline if lease not in leases]:
            del self._deadline[lease]

    def ttl(self, lease: int) -> int:
        """The lease's TTL as CoreDNS answers it: its remaining whole seconds,
        clamped to ``min_ttl``..``max_ttl``; 0 when unknown.  A deadline passed
        since the last ask is ``min_ttl``: the lease was kept alive, or its keys
        are about to go."""
        deadline = self._deadline.get(lease)
        if deadline is None:
            return 0
        remaining = math.floor(deadline - self.clock())
        return min(self.max_ttl, max(self.min_ttl, remaining))
