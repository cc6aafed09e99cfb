"""The Store contract: etcd's key-value semantics as one async interface.

Both backends (``memory://`` and ``etcd://``) implement :class:`Store`; callers only
ever see the types defined here.  This module holds no I/O of its own.

Semantics (as etcd v3):

- keys and values are ``bytes``; every successful write (put, delete of at least one
  key, or a txn that wrote) bumps the store-wide ``revision`` by exactly one;
- each key carries ``create_revision``, ``mod_revision`` and ``version`` (1 on
  create, +1 per put; a delete resets the key's history);
- :meth:`Store.txn` evaluates every :class:`Compare` atomically and runs either the
  ``success`` or the ``failure`` ops; it is the only way to make a decision safe
  against other writers;
- :meth:`Store.watch` yields batches of :class:`Event` in revision order starting at
  ``start_revision``; a start below the compaction point raises :class:`Compacted`;
- leases expire after their TTL unless kept alive; keys attached to an expired lease
  are deleted (one revision for the whole expiry); each :class:`KeyValue` (in reads
  and watch events) names its lease, and :meth:`Store.time_to_live` tells a lease's
  remaining time.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import AsyncGenerator, Sequence
from typing import Self

from fedns import errors


class StoreError(errors.FednsError):
    """The store failed."""


class BadStoreURL(StoreError, errors.UsageError):
    """The store URL is not valid."""


class Unavailable(StoreError, errors.TemporaryError):
    """The store cannot be reached."""


class Compacted(StoreError):
    """The requested revision has been compacted."""

    def __init__(self, message: str = "", compact_revision: int = 0) -> None:
        super().__init__(message or f"revision compacted (oldest kept: {compact_revision})")
        self.compact_revision = compact_revision


class FutureRevision(StoreError):
    """The requested revision is newer than the store's current revision."""


class LeaseNotFound(StoreError):
    """The lease has expired or was revoked."""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """A range read: the matching pairs in key order, read at ``revision``."""

    kvs: list[KeyValue]
    revision: int
    count: int = 0
    more: bool = False


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One change.  For DELETE, ``kv.value`` is empty and ``kv.mod_revision`` is the
    revision of the delete; ``prev`` holds the value before the change when known."""

    type: EventType
    kv: KeyValue
    prev: KeyValue | None = None


class Target(enum.Enum):
    VALUE = "value"
    CREATE = "create_revision"
    MOD = "mod_revision"
    VERSION = "version"


@dataclasses.dataclass(frozen=True, slots=True)
class Compare:
    """``key``'s ``target`` compared with ``value`` using ``op`` (``== != < >``).

    A missing key has create/mod revision 0, version 0; a VALUE comparison against a
    missing key is false (as etcd).  Build with the helpers below.
    """

    key: bytes
    target: Target
    op: str
    value: int | bytes


def value_is(key: bytes, value: bytes) -> Compare:
    return Compare(key, Target.VALUE, "==", value)


def absent(key: bytes) -> Compare:
    return Compare(key, Target.CREATE, "==", 0)


def mod_revision_is(key: bytes, revision: int) -> Compare:
    return Compare(key, Target.MOD, "==", revision)


def version_is(key: bytes, version: int) -> Compare:
    return Compare(key, Target.VERSION, "==", version)


@dataclasses.dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    """Delete ``key``; with ``prefix`` every key starting with it."""

    key: bytes
    prefix: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Get:
    """Read ``key``; with ``prefix`` every key starting with it."""

    key: bytes
    prefix: bool = False


Op = Put | Delete | Get


@dataclasses.dataclass(frozen=True, slots=True)
class TxnResult:
    """``succeeded`` tells which branch ran; ``responses`` has one entry per op of
    that branch: a list of KeyValue for a Get, the deleted count for a Delete, None
    for a Put."""

    succeeded: bool
    revision: int
    responses: list[list[KeyValue] | int | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl: int


def _compare_values(actual: int | bytes, op: str, expected: int | bytes) -> bool:
    if op == "==":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op == "<":
        return actual < expected  # type: ignore[operator]
    if op == ">":
        return actual > expected  # type: ignore[operator]
    raise StoreError(f"unknown comparison operator {op!r}")


def evaluate(compare: Compare, kv: KeyValue | None) -> bool:
    """True when ``compare`` holds for ``kv`` (None: the key is absent)."""
    if compare.target is Target.VALUE:
        if kv is None:
            return False
        return _compare_values(kv.value, compare.op, compare.value)
    actual = 0
    if kv is not None:
        actual = {
            Target.CREATE: kv.create_revision,
            Target.MOD: kv.mod_revision,
            Target.VERSION: kv.version,
        }[compare.target]
    return _compare_values(actual, compare.op, compare.value)


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix`` (etcd's range_end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # etcd: every key


class Store(abc.ABC):
    """An etcd-like key-value store.  Use as an async context manager or call close()."""

    url: str = ""

    @abc.abstractmethod
    async def get(self, key: bytes, revision: int = 0) -> KeyValue | None:
        """The pair at ``key`` (at ``revision``, 0 = now), or None."""

    @abc.abstractmethod
    async def range(self, prefix: bytes, revision: int = 0, limit: int = 0) -> Range:
        """Every pair whose key starts with ``prefix`` in key order (``b""``: all)."""

    @abc.abstractmethod
    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Write ``key``; returns the new revision."""

    @abc.abstractmethod
    async def delete(self, key: bytes, prefix: bool = False) -> int:
        """Delete ``key`` (or every key under the prefix); returns how many went."""

    @abc.abstractmethod
    async def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        """Atomically: if every compare holds run ``success``, else ``failure``."""

    @abc.abstractmethod
    def watch(self, prefix: bytes, start_revision: int = 0, *,
              prev: bool = True) -> AsyncGenerator[list[Event], None]:
        """Batches of events under ``prefix`` from ``start_revision`` (0: from now on),
        in revision order, until the iterator is closed.  Raises :class:`Compacted`
        when ``start_revision`` is older than the compaction point.  With
        ``prev=False`` events need not carry the value before the change (etcd then
        neither looks it up nor sends it)."""

    @abc.abstractmethod
    async def revision(self) -> int:
        """The current store revision."""

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Forget history older than ``revision``."""

    @abc.abstractmethod
    async def grant(self, ttl: int) -> Lease:
        """A new lease that expires ``ttl`` seconds from now unless kept alive."""

    @abc.abstractmethod
    async def keepalive(self, lease_id: int) -> int:
        """Renew the lease; returns its TTL.  Raises :class:`LeaseNotFound` if it
        has expired."""

    @abc.abstractmethod
    async def time_to_live(self, lease_id: int) -> int:
        """The lease's remaining time in whole seconds, rounded down (etcd's
        LeaseTimeToLive).  Raises :class:`LeaseNotFound` if it has expired or was
        revoked."""

    @abc.abstractmethod
    async def revoke(self, lease_id: int) -> None:
        """End the lease now, deleting its keys."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and background tasks."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
