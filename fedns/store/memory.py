"""``memory://``: the embedded Store, etcd's semantics kept in process.

One event loop owns it; every mutation runs without an ``await`` in the middle, so a
txn is atomic and a watch registered at revision R sees every event after R with no
gap.  History since the last compaction is kept as a log of events (with the value
before each change), which serves both watches from an old revision and range reads
at an old revision (current state with the newer events undone).

Not for: sharing state between processes (use ``etcd://``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Sequence

from sortedcontainers import SortedDict

from fedns.store import base


class _Lease:
    __slots__ = ("deadline", "id", "keys", "timer", "ttl")

    def __init__(self, lease_id: int, ttl: int, deadline: float) -> None:
        self.id = lease_id
        self.ttl = ttl
        self.deadline = deadline
        self.keys: set[bytes] = set()
        self.timer: asyncio.TimerHandle | None = None


class _Watcher:
    __slots__ = ("end", "prefix", "queue")

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.end = base.prefix_end(prefix) if prefix else None
        self.queue: asyncio.Queue[list[base.Event]] = asyncio.Queue()

    def wants(self, key: bytes) -> bool:
        return key >= self.prefix and (self.end is None or key < self.end)


class MemoryStore(base.Store):
    """The embedded store.  ``MemoryStore()`` is ready to use; close() ends leases."""

    def __init__(self, url: str = "memory://", max_history: int = 200_000) -> None:
        self.url = url
        self._max_history = max_history
        self._kvs: SortedDict = SortedDict()  # bytes -> KeyValue
        self._rev = 1  # etcd starts at revision 1 with no keys
        self._compact_rev = 0
        self._log: list[base.Event] = []  # every event after _compact_rev, in order
        self._watchers: set[_Watcher] = set()
        self._leases: dict[int, _Lease] = {}
        self._lease_ids = itertools.count(0x1000)
        self._closed = False

    # -- reads ---------------------------------------------------------------

    def _check_read_revision(self, revision: int) -> None:
        if revision > self._rev:
            raise base.FutureRevision(
                f"revision {revision} is newer than the store's ({self._rev})"
            )
        if 0 < revision < self._compact_rev:
            raise base.Compacted(compact_revision=self._compact_rev)

    def _snapshot(self, start: bytes, end: bytes | None, revision: int) -> list[base.KeyValue]:
        keys = self._kvs.irange(start, end, inclusive=(True, False))
        state = {k: self._kvs[k] for k in keys}
        if revision and revision < self._rev:
            for event in reversed(self._log):
                if event.kv.mod_revision <= revision:
                    break
                key = event.kv.key
                if key < start or (end is not None and key >= end):
                    continue
                if event.prev is None:
                    state.pop(key, None)
                else:
                    state[key] = event.prev
        return [state[k] for k in sorted(state)]

    async def get(self, key: bytes, revision: int = 0) -> base.KeyValue | None:
        self._check_read_revision(revision)
        if not revision:
            return self._kvs.get(key)
        found = self._snapshot(key, key + b"\0", revision)
        return found[0] if found else None

    async def range(self, prefix: bytes, revision: int = 0, limit: int = 0) -> base.Range:
        self._check_read_revision(revision)
        end = base.prefix_end(prefix) if prefix else None
        kvs = self._snapshot(prefix, end, revision)
        count = len(kvs)
        if limit and count > limit:
            return base.Range(kvs[:limit], self._rev, count, True)
        return base.Range(kvs, self._rev, count, False)

    async def revision(self) -> int:
        return self._rev

    # -- writes --------------------------------------------------------------

    def _check_lease(self, lease: int) -> None:
        if lease and lease not in self._leases:
            raise base.LeaseNotFound(f"lease {lease:x} not found (expired or revoked)")

    def _apply_put(self, op: base.Put, rev: int, events: list[base.Event]) -> None:
        prev = self._kvs.get(op.key)
        if prev is not None and prev.lease and prev.lease != op.lease:
            self._leases[prev.lease].keys.discard(op.key)
        kv = base.KeyValue(
            key=op.key,
            value=op.value,
            create_revision=prev.create_revision if prev else rev,
            mod_revision=rev,
            version=prev.version + 1 if prev else 1,
            lease=op.lease,
        )
        self._kvs[op.key] = kv
        if op.lease:
            self._leases[op.lease].keys.add(op.key)
        events.append(base.Event(base.EventType.PUT, kv, prev))

    def _keys_of(self, key: bytes, prefix: bool) -> list[bytes]:
        if not prefix:
            return [key] if key in self._kvs else []
        end = base.prefix_end(key) if key else None
        return list(self._kvs.irange(key, end, inclusive=(True, False)))

    def _apply_delete(self, op: base.Delete, rev: int, events: list[base.Event]) -> int:
        keys = self._keys_of(op.key, op.prefix)
        for key in keys:
            prev = self._kvs.pop(key)
            if prev.lease and prev.lease in self._leases:
                self._leases[prev.lease].keys.discard(key)
            tomb = base.KeyValue(key, b"", 0, rev, 0)
            events.append(base.Event(base.EventType.DELETE, tomb, prev))
        return len(keys)

    def _commit(self, events: list[base.Event]) -> None:
        self._log.extend(events)
        if len(self._log) > self._max_history * 5 // 4:
            # auto-compaction, as etcd's --auto-compaction: keep the newest history
            cut = self._log[-self._max_history].kv.mod_revision
            self._compact_rev = cut
            self._log = [e for e in self._log if e.kv.mod_revision >= cut]
        if len(events) == 1:  # most writes: one test per watcher, no list per watcher
            key = events[0].kv.key
            for watcher in self._watchers:
                if watcher.wants(key):
                    watcher.queue.put_nowait(events)
            return
        for watcher in self._watchers:
            mine = [e for e in events if watcher.wants(e.kv.key)]
            if mine:
                watcher.queue.put_nowait(mine)

    def _check_type(self, key: bytes, value: bytes = b"") -> None:
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise TypeError("store keys and values are bytes")

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        self._check_type(key, value)
        self._check_lease(lease)
        events: list[base.Event] = []
        self._rev += 1
        self._apply_put(base.Put(key, value, lease), self._rev, events)
        self._commit(events)
        return self._rev

    async def delete(self, key: bytes, prefix: bool = False) -> int:
        self._check_type(key)
        if not self._keys_of(key, prefix):
            return 0
        events: list[base.Event] = []
        self._rev += 1
        count = self._apply_delete(base.Delete(key, prefix), self._rev, events)
        self._commit(events)
        return count

    async def txn(
        self,
        compare: Sequence[base.Compare],
        success: Sequence[base.Op] = (),
        failure: Sequence[base.Op] = (),
    ) -> base.TxnResult:
        ok = all(base.evaluate(c, self._kvs.get(c.key)) for c in compare)
        ops = success if ok else failure
        for op in ops:
            if isinstance(op, base.Put):
                self._check_type(op.key, op.value)
                self._check_lease(op.lease)
        writes = any(
            isinstance(op, base.Put)
            or (isinstance(op, base.Delete) and self._keys_of(op.key, op.prefix))
            for op in ops
        )
        rev = self._rev + 1 if writes else self._rev
        events: list[base.Event] = []
        responses: list[list[base.KeyValue] | int | None] = []
        for op in ops:
            if isinstance(op, base.Put):
                self._apply_put(op, rev, events)
                responses.append(None)
            elif isinstance(op, base.Delete):
                responses.append(self._apply_delete(op, rev, events))
            else:
                responses.append([self._kvs[k] for k in self._keys_of(op.key, op.prefix)])
        if writes:
            self._rev = rev
            self._commit(events)
        return base.TxnResult(ok, self._rev, responses)

    async def compact(self, revision: int) -> None:
        if revision > self._rev:
            raise base.FutureRevision(f"cannot compact to {revision}: store is at {self._rev}")
        if revision <= self._compact_rev:
            raise base.Compacted(compact_revision=self._compact_rev)
        self._compact_rev = revision
        # keep events at or after the compaction revision (etcd keeps `revision`)
        self._log = [e for e in self._log if e.kv.mod_revision >= revision]

    # -- watch ---------------------------------------------------------------

    def watch(self, prefix: bytes, start_revision: int = 0, *,
              prev: bool = True) -> AsyncGenerator[list[base.Event], None]:
        # the previous values are at hand: they are given whatever ``prev`` says
        # "from now on" means from the revision after this call, not the first read
        return self._watch(prefix, start_revision or self._rev + 1)

    async def _watch(self, prefix: bytes, start_revision: int) -> AsyncGenerator[list[base.Event], None]:
        if start_revision < self._compact_rev:
            raise base.Compacted(compact_revision=self._compact_rev)
        watcher = _Watcher(prefix)
        if start_revision <= self._rev:
            batch: list[base.Event] = []
            for event in self._log:
                if event.kv.mod_revision < start_revision or not watcher.wants(event.kv.key):
                    continue
                if batch and batch[-1].kv.mod_revision != event.kv.mod_revision:
                    watcher.queue.put_nowait(batch)
                    batch = []
                batch.append(event)
            if batch:
                watcher.queue.put_nowait(batch)
        self._watchers.add(watcher)
        try:
            while True:
                yield await watcher.queue.get()
        finally:
            self._watchers.discard(watcher)

    # -- leases --------------------------------------------------------------

    def _schedule_expiry(self, lease: _Lease) -> None:
        loop = asyncio.get_running_loop()
        if lease.timer is not None:
            lease.timer.cancel()
        lease.timer = loop.call_at(lease.deadline, self._expire, lease.id)

    def _expire(self, lease_id: int) -> None:
        lease = self._leases.get(lease_id)
        if lease is None or self._closed:
            return
        if asyncio.get_running_loop().time() < lease.deadline:
            self._schedule_expiry(lease)
            return
        self._end_lease(lease)

    def _end_lease(self, lease: _Lease) -> None:
        del self._leases[lease.id]
        if lease.timer is not None:
            lease.timer.cancel()
        keys = sorted(k for k in lease.keys if k in self._kvs)
        if keys:
            events: list[base.Event] = []
            self._rev += 1
            for key in keys:
                self._apply_delete(base.Delete(key), self._rev, events)
            self._commit(events)

    async def grant(self, ttl: int) -> base.Lease:
        if ttl <= 0:
            raise base.StoreError(f"lease TTL must be positive, got {ttl}")
        lease_id = next(self._lease_ids)
        loop = asyncio.get_running_loop()
        lease = _Lease(lease_id, ttl, loop.time() + ttl)
        self._leases[lease_id] = lease
        self._schedule_expiry(lease)
        return base.Lease(lease_id, ttl)

    async def keepalive(self, lease_id: int) -> int:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise base.LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        lease.deadline = asyncio.get_running_loop().time() + lease.ttl
        self._schedule_expiry(lease)
        return lease.ttl

    async def time_to_live(self, lease_id: int) -> int:
        lease = self._leases.get(lease_id)
        remaining = lease.deadline - asyncio.get_running_loop().time() if lease else -1.0
        if lease is None or remaining < 0:  # past its deadline: its timer is due
            raise base.LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        return int(remaining)  # whole seconds, rounded down, as etcd

    async def revoke(self, lease_id: int) -> None:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise base.LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        self._end_lease(lease)

    async def close(self) -> None:
        self._closed = True
        for lease in self._leases.values():
            if lease.timer is not None:
                lease.timer.cancel()
