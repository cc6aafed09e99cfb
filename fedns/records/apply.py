"""Write a service's records to the Store: read, plan, then one guarded transaction.

The ownership index of service S in namespace N of federation F is one key,
``/fedns/owners/records/F/N/S``, whose value is the sorted JSON list of the record
keys fedns wrote for it.  Every write of the service's records is one txn that also
rewrites the index and is guarded by the index's ``mod_revision`` (so two fedns
writers never interleave) and by every touched key's state as read (so a key written
by someone else since the read is never overwritten).  A lost race is re-read and
re-planned.  Not for: deciding what the records are (:mod:`fedns.records.desired`).
"""

from __future__ import annotations

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


async def apply(store: base.Store, ref: desired_mod.ServiceRef,
                desired: Mapping[str, str]) -> plan_mod.Changes:
    """Make the Store hold ``desired`` for ``ref`` (keys fedns does not own are left
    alone and reported in ``Changes.conflicts``).  Returns the changes applied."""
    index_key = owners_key(ref)
    for _ in range(ATTEMPTS):
        # one round trip reads the index with the desired keys; a second only for
        # owned keys no longer desired (a shrinking service)
        kvs = await _read(store, [index_key, *(k.encode() for k in sorted(desired))])
        index = kvs.pop(index_key, None)
        owned = _decode_index(index)
        extra = [k.encode() for k in owned if k not in desired]
        if extra:
            kvs.update(await _read(store, extra))
        current = {k.decode(): kv.value.decode("utf-8", "replace") for k, kv in kvs.items()}
        changes = plan_mod.plan(current, desired, owned)
        if changes.empty() and list(changes.owned) == owned:
            return changes

        guard = [base.mod_revision_is(index_key, index.mod_revision if index else 0)]
        ops: list[base.Op] = []
        for key, value in [*changes.create.items(), *changes.update.items()]:
            before = kvs.get(key.encode())
            guard.append(base.mod_revision_is(key.encode(), before.mod_revision if before else 0))
            ops.append(base.Put(key.encode(), value.encode()))
        for key in changes.delete:
            guard.append(base.mod_revision_is(key.encode(), kvs[key.encode()].mod_revision))
            ops.append(base.Delete(key.encode()))
        if changes.owned:
            ops.append(base.Put(index_key, json.dumps(list(changes.owned)).encode()))
        elif index is not None:
            ops.append(base.Delete(index_key))
        if len(ops) > MAX_TXN_OPS or len(guard) > MAX_TXN_OPS:
            raise TooManyRecords(
                f"{ref.namespace}/{ref.name}: {len(ops)} record changes exceed one "
                f"transaction ({MAX_TXN_OPS})")
        result = await store.txn(guard, ops)
        if result.succeeded:
            return changes
    raise ApplyContention(
        f"{ref.namespace}/{ref.name}: records changed under us {ATTEMPTS} times")


async def withdraw(store: base.Store, ref: desired_mod.ServiceRef) -> plan_mod.Changes:
    """Remove every record fedns wrote for ``ref`` and its ownership index."""
    return await apply(store, ref, {})
