"""Write a service's records to the Store: read, plan, then one guarded transaction.

The ownership index of service S in namespace N of federation F is one key,
``/fedns/owners/records/F/N/S``, whose value is the sorted JSON list of the record
keys fedns wrote for it.  Every write of the service's records is one txn that also
rewrites the index and is guarded by the index's ``mod_revision`` (so two fedns
writers never interleave) and by every touched key's state as read (so a key written
by someone else since the read is never overwritten).  A lost race is re-read and
re-planned.  Not for: deciding what the records are (:mod:`fedns.records.desired`).

A caller that applies the same services again and again (the controller) passes a
:class:`Known`: what this process last read or wrote of each service's records.  It
is planned against instead of reading first, so a reconcile that changes nothing
costs no round trip, and one that does costs one.  Every write is still guarded by
the revisions the view holds: a view gone stale (someone else wrote) costs a failed
compare and a re-read, never a lost or clobbered write.  What a stale view cannot
show is a change outside what is written, so the controller forgets every view at
each full resync.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from fedns import errors
from fedns.records import desired as desired_mod
from fedns.records import plan as plan_mod
from fedns.store import base

OWNERS_PREFIX = "/fedns/owners/records/"
ATTEMPTS = 5
# etcd refuses a txn with more operations per branch than --max-txn-ops (default 128).
MAX_TXN_OPS = 128


class ApplyContention(errors.TemporaryError):
    """Other writers kept changing the service's records; try again later."""


class TooManyRecords(errors.PermanentError):
    """The service has more record changes than one etcd transaction may hold."""


class BadOwnerIndex(errors.PermanentError):
    """The ownership index in the Store is not a JSON list of keys."""


@dataclasses.dataclass(frozen=True)
class View:
    """One service's records as last read or written: the ownership index's
    mod_revision (0: absent) and list, and key -> (value, mod_revision) of the keys
    that exist among those desired or owned then."""

    index_revision: int
    owned: list[str]
    keys: dict[str, tuple[str, int]]


class Known:
    """The :class:`View` of each service applied through it (services with no
    records are not kept)."""

    def __init__(self) -> None:
        self._views: dict[desired_mod.ServiceRef, View] = {}

    def __len__(self) -> int:
        return len(self._views)

    def get(self, ref: desired_mod.ServiceRef) -> View | None:
        return self._views.get(ref)

    def put(self, ref: desired_mod.ServiceRef, view: View) -> None:
        if view.owned or view.keys:
            self._views[ref] = view
        else:
            self._views.pop(ref, None)

    def drop(self, ref: desired_mod.ServiceRef) -> None:
        self._views.pop(ref, None)

    def clear(self) -> None:
        self._views.clear()


def owners_key(ref: desired_mod.ServiceRef) -> bytes:
    """The ownership index key of ``ref``."""
    return f"{OWNERS_PREFIX}{ref.federation}/{ref.namespace}/{ref.name}".encode()


async def _read(store: base.Store, keys: list[bytes]) -> dict[bytes, base.KeyValue]:
    found: dict[bytes, base.KeyValue] = {}
    for start in range(0, len(keys), MAX_TXN_OPS):
        chunk = keys[start:start + MAX_TXN_OPS]
        result = await store.txn([], [base.Get(k) for k in chunk])
        for kvs in result.responses:
            assert isinstance(kvs, list)
            for kv in kvs:
                found[kv.key] = kv
    return found


def _decode_index(kv: base.KeyValue | None) -> list[str]:
    if kv is None:
        return []
    try:
        keys = json.loads(kv.value)
    except ValueError as err:
        raise BadOwnerIndex(f"ownership index {kv.key.decode()!r} is not JSON") from err
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BadOwnerIndex(f"ownership index {kv.key.decode()!r} is not a list of keys")
    return keys


async def owned_keys(store: base.Store, ref: desired_mod.ServiceRef) -> list[str]:
    """The record keys fedns wrote for ``ref``, as its ownership index says."""
    return _decode_index(await store.get(owners_key(ref)))


async def _read_view(store: base.Store, index_key: bytes,
                     desired: Mapping[str, str]) -> View:
    # one round trip reads the index with the desired keys; a second only for owned
    # keys no longer desired (a shrinking service)
    kvs = await _read(store, [index_key, *(k.encode() for k in sorted(desired))])
    index = kvs.pop(index_key, None)
    owned = _decode_index(index)
    extra = [k.encode() for k in owned if k not in desired]
    if extra:
        kvs.update(await _read(store, extra))
    return View(index.mod_revision if index is not None else 0, owned,
                {k.decode(): (kv.value.decode("utf-8", "replace"), kv.mod_revision)
                 for k, kv in kvs.items()})


async def apply(store: base.Store, ref: desired_mod.ServiceRef,
                desired: Mapping[str, str], known: Known | None = None) -> plan_mod.Changes:
    """Make the Store hold ``desired`` for ``ref`` (keys fedns does not own are left
    alone and reported in ``Changes.conflicts``).  Returns the changes applied.
    With ``known``, plans against the view kept there and keeps the outcome."""
    index_key = owners_key(ref)
    view = known.get(ref) if known is not None else None
    for _ in range(ATTEMPTS):
        if view is None:
            view = await _read_view(store, index_key, desired)
        current = {k: value for k, (value, _) in view.keys.items()}
        changes = plan_mod.plan(current, desired, view.owned)
        if changes.empty() and list(changes.owned) == view.owned:
            if known is not None:
                known.put(ref, view)
            return changes

        guard = [base.mod_revision_is(index_key, view.index_revision)]
        ops: list[base.Op] = []
        for key, value in [*changes.create.items(), *changes.update.items()]:
            before = view.keys.get(key)
            guard.append(base.mod_revision_is(key.encode(), before[1] if before else 0))
            ops.append(base.Put(key.encode(), value.encode()))
        for key in changes.delete:
            guard.append(base.mod_revision_is(key.encode(), view.keys[key][1]))
            ops.append(base.Delete(key.encode()))
        if changes.owned:
            ops.append(base.Put(index_key, json.dumps(list(changes.owned)).encode()))
        elif view.index_revision:
            ops.append(base.Delete(index_key))
        if len(ops) > MAX_TXN_OPS or len(guard) > MAX_TXN_OPS:
            raise TooManyRecords(
                f"{ref.namespace}/{ref.name}: {len(ops)} record changes exceed one "
                f"transaction ({MAX_TXN_OPS})")
        try:
            result = await store.txn(guard, ops)
        except BaseException:
            if known is not None:  # it may have landed after all: read next time
                known.drop(ref)
            raise
        if result.succeeded:
            if known is not None:
                written = dict(view.keys)
                for key, value in [*changes.create.items(), *changes.update.items()]:
                    written[key] = (value, result.revision)
                for key in changes.delete:
                    written.pop(key, None)
                known.put(ref, View(result.revision if changes.owned else 0,
                                    list(changes.owned), written))
            return changes
        view = None  # someone else wrote: read again
        if known is not None:
            known.drop(ref)
    raise ApplyContention(
        f"{ref.namespace}/{ref.name}: records changed under us {ATTEMPTS} times")


async def withdraw(store: base.Store, ref: desired_mod.ServiceRef) -> plan_mod.Changes:
    """Remove every record fedns wrote for ``ref`` and its ownership index."""
    return await apply(store, ref, {})
