"""A work queue with client-go's semantics, on an injectable clock.

- duplicate keys collapse: a key waiting to be processed is queued once;
- a key is never handed to two workers at once: while it is processing, a new
  ``add`` only marks it dirty, and ``done`` puts it back in the queue;
- ``add(key, urgent=True)`` puts a key before the others (a new object's first
  reconcile before the status-driven ones of a burst), four urgent keys to one of the
  others while both wait;
- ``add_after`` delays a key; ``add_rate_limited`` delays it by the larger of a
  per-key exponential backoff and a global token bucket; ``forget`` resets the
  key's backoff once it succeeds.

:class:`WorkQueue` is synchronous and takes ``now`` from its clock, so tests drive it
with fake time; :class:`AsyncWorkQueue` adds an awaitable ``get`` for workers.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
URGENT_RUN = 4  # urgent keys handed out before one waiting in the normal line


class ExponentialBackoff(Generic[K]):
    """Per-key delay ``base * 2**failures`` capped at ``cap`` (client-go: 5 ms .. 1000 s)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base, self.cap = base, cap
        self._failures: dict[K, int] = collections.defaultdict(int)

    def when(self, key: K) -> float:
        failures = self._failures[key]
        self._failures[key] = failures + 1
        return min(self.cap, self.base * (2 ** min(failures, 64)))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)


class TokenBucket:
    """A global rate limit: ``rate`` tokens a second, ``burst`` at most.  ``reserve``
    takes a token and returns how long to wait for it (client-go's BucketRateLimiter)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._stamp = clock()

    def reserve(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class WorkQueue(Generic[K]):
    """The queue's state machine.  Not thread-safe; one event loop owns it."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        backoff: ExponentialBackoff[K] | None = None,
        rate: float = 50.0,
        burst: int = 500,
    ) -> None:
        self._clock = clock
        # the order of queued keys; an entry whose key is no longer in _queued is stale
        # (the key moved to the urgent line or was handed out) and skipped
        self._queue: collections.deque[K] = collections.deque()
        self._urgent: collections.deque[K] = collections.deque()
        self._queued: set[K] = set()  # waiting in a line (dirty and not processing)
        self._in_urgent: set[K] = set()  # queued keys whose entry is in the urgent line
        self._hurry: set[K] = set()  # asked for urgently: the next _line is urgent
        self._run = 0  # urgent keys handed out in a row
        self._dirty: set[K] = set()  # needs processing (queued, or re-added while processing)
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []  # heap of delayed adds
        self._seq = 0
        self.backoff = backoff or ExponentialBackoff()
        self.bucket = TokenBucket(rate, burst, clock)

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K, urgent: bool = False) -> None:
        if key in self._dirty:
            if urgent and key not in self._in_urgent:
                self._hurry.add(key)
                if key in self._queued:
                    self._line(key)  # its entry in the normal line goes stale
                # else processing: done() queues it in the urgent line
            return
        self._dirty.add(key)
        if urgent:
            self._hurry.add(key)
        if key in self._processing:
            return  # done() requeues it
        self._line(key)

    def _line(self, key: K) -> None:
        """Queue ``key``: in the urgent line if it was asked for so."""
        if key in self._hurry:
            self._hurry.discard(key)
            self._urgent.append(key)
            self._in_urgent.add(key)
        else:
            self._queue.append(key)
        self._queued.add(key)

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        self._seq += 1
        heapq.heappush(self._waiting, (self._clock() + delay, self._seq, key))

    def add_rate_limited(self, key: K) -> float:
        """Requeue a failed key after its backoff; returns the delay chosen."""
        delay = max(self.backoff.when(key), self.bucket.reserve())
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self.backoff.forget(key)

    def _promote(self) -> None:
        now = self._clock()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, key = heapq.heappop(self._waiting)
            self.add(key)

    def get_nowait(self) -> K | None:
        """The next key to process, now marked processing; None when nothing is due."""
        self._promote()
        key = self._pop()
        if key is None:
            return None
        self._queued.discard(key)
        self._in_urgent.discard(key)
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def _pop(self) -> K | None:
        """The urgent line first, but every :data:`URGENT_RUN` urgent keys one waiting
        in the normal line goes (a long burst must not starve the follow-ups)."""
        if self._run >= URGENT_RUN:
            key = self._pop_normal()
            if key is not None:
                self._run = 0
                return key
        while self._urgent:
            key = self._urgent.popleft()
            if key in self._in_urgent:
                self._run += 1
                return key
        self._run = 0
        return self._pop_normal()

    def _pop_normal(self) -> K | None:
        while self._queue:
            key = self._queue.popleft()
            if key in self._queued and key not in self._in_urgent:
                return key
        return None

    def done(self, key: K) -> None:
        """Processing of ``key`` ended; if it was re-added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty and key not in self._queued:
            self._line(key)

    def next_due(self) -> float | None:
        """Seconds until the earliest delayed key is due, or None if there is none."""
        if not self._waiting:
            return None
        return max(0.0, self._waiting[0][0] - self._clock())

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def depth(self) -> int:
        """Keys waiting: queued now plus delayed."""
        return len(self._queued) + len(self._waiting)


class AsyncWorkQueue(WorkQueue[K]):
    """The work queue with an awaitable :meth:`get` for asyncio workers."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(clock=time.monotonic, **kwargs)  # type: ignore[arg-type]
        self._wakeup = asyncio.Event()
        self._shutdown = False
        # set while no key is queued or being processed (delayed keys do not count)
        self.idle = asyncio.Event()
        self.idle.set()

    def _note(self) -> None:
        if self._queued or self._processing:
            self.idle.clear()
        else:
            self.idle.set()

    def add(self, key: K, urgent: bool = False) -> None:
        super().add(key, urgent)
        self._wakeup.set()
        self._note()

    def add_after(self, key: K, delay: float) -> None:
        super().add_after(key, delay)
        self._wakeup.set()

    def get_nowait(self) -> K | None:
        key = super().get_nowait()
        self._note()
        return key

    def done(self, key: K) -> None:
        super().done(key)
        self._wakeup.set()
        self._note()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is idle, at most ``timeout`` seconds; True if it is."""
        if self.idle.is_set():
            return True
        try:
            # a timeout scope, not wait_for: no task per waiter (thousands of status
            # writes wait here under a burst)
            async with asyncio.timeout(timeout):
                await self.idle.wait()
        except TimeoutError:
            return False
        return True

    def shutdown(self) -> None:
        self._shutdown = True
        self._wakeup.set()

    async def get(self) -> K | None:
        """Wait for the next key; None once the queue is shut down."""
        while not self._shutdown:
            key = self.get_nowait()
            if key is not None:
                if self._queued:
                    self._wakeup.set()  # more work: let another worker in
                return key
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.next_due())
            except TimeoutError:
                pass
        return None
