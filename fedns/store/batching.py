"""Group commit: transactions issued while others are in flight go to etcd as one.

Under load the controller issues many small guarded transactions at once (an
address allocation, a service's records), each a gRPC round trip and a raft entry of
its own.  :class:`GroupCommit` wraps a Store and merges the txns that are waiting
into one etcd txn, which is exactly equivalent to running them one after another
because a txn only joins a batch when no key it compares, reads or writes is written
by another member of the batch (etcd would also refuse a txn that puts one key
twice).  At low load nothing waits: a txn goes out at once, alone.

The merged txn's success branch is every member's success ops, in order; its
compares are every member's compares.  When it fails, one read txn fetches every
compared key with the members' read-only failure ops, and the compares are evaluated
here against those values: a member whose compare fails at that revision gets its
failure result from it (a valid serial order), and the others go round again.  Members with writes in their failure branch, or with
prefix operations, are never merged: they go to the Store alone.

Not for: reads and plain puts (passed straight through), or memory:// (no round
trips worth saving).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Sequence

from fedns.store import base

MAX_TXN_OPS = 128  # etcd's --max-txn-ops default: the bound per branch and on compares
MAX_BATCH_BYTES = 512 * 1024  # well under etcd's --max-request-bytes (1.5 MiB)
MAX_IN_FLIGHT = 2  # merged txns on the wire at once


@dataclasses.dataclass(eq=False)
class _Job:
    compare: Sequence[base.Compare]
    success: Sequence[base.Op]
    failure: Sequence[base.Op]
    future: asyncio.Future[base.TxnResult]
    reads: frozenset[bytes]  # compared or read keys
    writes: frozenset[bytes]
    size: int

    @classmethod
    def of(cls, compare: Sequence[base.Compare], success: Sequence[base.Op],
           failure: Sequence[base.Op], future: asyncio.Future[base.TxnResult]) -> _Job | None:
        """The job, or None when the txn cannot be merged with others."""
        if any(not isinstance(op, base.Get) for op in failure):
            return None
        if any(getattr(op, "prefix", False) for op in (*success, *failure)):
            return None
        reads = {c.key for c in compare}
        writes = set()
        size = 0
        for op in success:
            if isinstance(op, base.Get):
                reads.add(op.key)
            else:
                writes.add(op.key)
            size += len(op.key) + len(getattr(op, "value", b""))
        return cls(compare, success, failure, future, frozenset(reads), frozenset(writes),
                   size + sum(len(c.key) + 16 for c in compare))


class GroupCommit(base.Store):
    """A Store whose ``txn`` calls are merged while others are in flight."""

    def __init__(self, inner: base.Store, max_in_flight: int = MAX_IN_FLIGHT,
                 max_ops: int = MAX_TXN_OPS, max_bytes: int = MAX_BATCH_BYTES) -> None:
        self.inner = inner
        self.max_in_flight = max_in_flight
        self.max_ops, self.max_bytes = max_ops, max_bytes
        self._pending: list[_Job] = []
        self._in_flight = 0
        self._kick_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0  # merged txns sent (for tests and benchmarks)
        self.merged = 0  # txns that went in them

    # -- txn ---------------------------------------------------------------------

    async def txn(self, compare: Sequence[base.Compare], success: Sequence[base.Op] = (),
                  failure: Sequence[base.Op] = ()) -> base.TxnResult:
        if self._closed:
            raise base.Unavailable("store closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[base.TxnResult] = loop.create_future()
        job = _Job.of(compare, success, failure, future)
        if job is None:
            return await self.inner.txn(compare, success, failure)
        self._pending.append(job)
        if not self._kick_scheduled:
            # txns issued in the same loop iteration go out together
            self._kick_scheduled = True
            loop.call_soon(self._kick)
        return await future

    def _kick(self) -> None:
        self._kick_scheduled = False
        while self._pending and self._in_flight < self.max_in_flight and not self._closed:
            batch = self._take()
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Job]:
        """The oldest waiting job and every later one that fits beside it."""
        batch: list[_Job] = []
        rest: list[_Job] = []
        written: set[bytes] = set()
        touched: set[bytes] = set()
        compares = successes = failures = size = 0
        for job in self._pending:
            if job.future.done():  # its caller gave up before it was sent
                continue
            fits = not batch or (
                not (job.writes & touched) and not (job.reads & written)
                and compares + len(job.compare) <= self.max_ops
                and successes + len(job.success) <= self.max_ops
                and failures + len(job.compare) + len(job.failure) <= self.max_ops
                and size + job.size <= self.max_bytes)
            if not fits:
                rest.append(job)
                continue
            batch.append(job)
            written |= job.writes
            touched |= job.writes | job.reads
            compares += len(job.compare)
            successes += len(job.success)
            failures += len(job.compare) + len(job.failure)
            size += job.size
        self._pending = rest
        return batch

    async def _send(self, batch: list[_Job]) -> None:
        try:
            if len(batch) == 1:
                await self._alone(batch[0])
            else:
                await self._merged(batch)
        except asyncio.CancelledError:  # close(): nobody may wait for these forever
            for job in batch:
                _settle(job.future, error=base.Unavailable("store closed"))
            raise
        finally:
            self._in_flight -= 1
            self._kick()

    async def _alone(self, job: _Job) -> None:
        try:
            result = await self.inner.txn(job.compare, job.success, job.failure)
        except Exception as err:  # noqa: BLE001 - handed to the caller
            _settle(job.future, error=err)
        else:
            _settle(job.future, result)

    async def _merged(self, batch: list[_Job]) -> None:
        try:
            result = await self.inner.txn([c for job in batch for c in job.compare],
                                          [op for job in batch for op in job.success])
        except base.Unavailable as err:
            for job in batch:
                _settle(job.future, error=err)
            return
        except Exception:  # noqa: BLE001 - e.g. a limit of this etcd: each on its own
            await asyncio.gather(*(self._alone(job) for job in batch))
            return
        self.batches += 1
        self.merged += len(batch)
        if result.succeeded:
            at = 0
            for job in batch:
                n = len(job.success)
                _settle(job.future, base.TxnResult(True, result.revision,
                                                   result.responses[at:at + n]))
                at += n
            return
        await self._blame(batch)

    async def _blame(self, batch: list[_Job]) -> None:
        """After a merged txn failed: read every compared key, with every member's
        failure reads, in one txn; a member whose compare fails at that revision gets
        that as its result (a valid serial order), the others go round again."""
        compared = list(dict.fromkeys(c.key for job in batch for c in job.compare))
        reads: list[base.Op] = [base.Get(k) for k in compared]
        for job in batch:
            reads.extend(job.failure)
        try:
            result = await self.inner.txn([], reads)
        except Exception as err:  # noqa: BLE001 - handed to every caller
            for job in batch:
                _settle(job.future, error=err)
            return
        found: dict[bytes, base.KeyValue | None] = {}
        for key, kvs in zip(compared, result.responses):
            found[key] = kvs[0] if isinstance(kvs, list) and kvs else None
        at = len(compared)
        again = []
        for job in batch:
            n = len(job.failure)
            if all(base.evaluate(c, found[c.key]) for c in job.compare):
                again.append(job)  # blameless: it goes round again
            else:
                _settle(job.future, base.TxnResult(False, result.revision,
                                                   result.responses[at:at + n]))
            at += n
        self._pending[:0] = again

    # -- everything else goes straight through ------------------------------------

    async def get(self, key: bytes, revision: int = 0) -> base.KeyValue | None:
        return await self.inner.get(key, revision)

    async def range(self, prefix: bytes, revision: int = 0, limit: int = 0) -> base.Range:
        return await self.inner.range(prefix, revision, limit)

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        return await self.inner.put(key, value, lease)

    async def delete(self, key: bytes, prefix: bool = False) -> int:
        return await self.inner.delete(key, prefix)

    def watch(self, prefix: bytes, start_revision: int = 0, *,
              prev: bool = True) -> AsyncGenerator[list[base.Event], None]:
        return self.inner.watch(prefix, start_revision, prev=prev)

    async def revision(self) -> int:
        return await self.inner.revision()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def grant(self, ttl: int) -> base.Lease:
        return await self.inner.grant(ttl)

    async def keepalive(self, lease_id: int) -> int:
        return await self.inner.keepalive(lease_id)

    async def time_to_live(self, lease_id: int) -> int:
        return await self.inner.time_to_live(lease_id)

    async def revoke(self, lease_id: int) -> None:
        await self.inner.revoke(lease_id)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        pending, self._pending = self._pending, []
        for job in pending:
            _settle(job.future, error=base.Unavailable("store closed"))
        await self.inner.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # e.g. the url of the store underneath


def _settle(future: asyncio.Future[base.TxnResult], result: base.TxnResult | None = None,
            error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
