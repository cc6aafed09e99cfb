"""The IPAM keys of the Store mirrored in memory, indexed for allocation decisions.

``State`` holds what the Store says (pools, address records, owner records, locks)
with each key's mod_revision, and derives from it the pure core's inputs: one
``FreeIndex`` per pool and one ``Ledger`` per site.  It is fed changes from three
sources — a full load, the watch, and the outcome of this process's own
transactions (written keys, or the keys read back after a lost compare) — which
may arrive out of order, so every change is gated by revision: a change older than
what is known for its key (present, deleted, or covered by the last full load) is
dropped.  The Store stays the truth; this is a cache that every write re-checks.

No I/O here, and no decisions beyond calling ``ipam.allocator``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from fedns.ipamstore import keys
from fedns.store import base
from ipam import address, allocator, index, ledger, pool, request
from ipam import errors as ipam_errors

log = logging.getLogger(__name__)

# One change to one key: (key, its value or None when deleted, revision).
Change = tuple[bytes, base.KeyValue | None, int]
OwnerKey = tuple[str, str, int]  # (member, owner id, family)


T = TypeVar("T")
Holders = tuple[ledger.Allocation, ...] | None  # None: an unreadable record


@dataclasses.dataclass
class Entry(Generic[T]):
    """A decoded key with its mod_revision."""

    value: T
    revision: int


class State:
    """Pools, address and owner records, locks; free indexes and ledgers from them."""

    def __init__(self, member_sites: Mapping[str, str], cooldown: float = 0.0) -> None:
        self.member_sites = member_sites
        self.cooldown = cooldown
        # (pool, address) -> in-flight txns; survives a reload
        self.reserved: dict[tuple[str, address.Address], int] = {}
        self.pools_generation = 0  # bumped whenever any pool may have changed
        self.clear()

    def clear(self) -> None:
        self.pools_generation += 1
        self.floor = 0  # every change at or below it is in the last full load
        self.revision = 0  # highest revision the watch has delivered
        self.pools: dict[str, Entry[pool.Pool]] = {}  # name -> Entry(Pool)
        self.pool_meta: dict[str, dict[str, object]] = {}  # name -> its record's metadata
        self.poolset_revision = 0
        self.locks: dict[str, int] = {}  # pool -> mod_revision
        # pool -> address -> its holders
        self.addrs: dict[str, dict[address.Address, Entry[Holders]]] = {}
        self.owners: dict[OwnerKey, Entry[keys.OwnerRecord]] = {}
        self.services: dict[tuple[str, str, str], set[str]] = {}  # (m, ns, svc) -> owner ids
        self.indexes: dict[str, index.FreeIndex] = {}
        self.ledgers: dict[str, ledger.Ledger] = {}
        self._ledger_revision: dict[tuple[ledger.Owner, int], int] = {}
        self._site_pools: dict[str, list[pool.Pool]] | None = None
        self._revisions: dict[bytes, int] = {}  # present keys -> mod_revision
        # deleted keys -> revision of the delete, oldest first (an OrderedDict: a plain
        # dict's first entry costs a scan past every entry deleted before it)
        self._tombs: collections.OrderedDict[bytes, int] = collections.OrderedDict()
        self.changes = 0  # bumped on every accepted change, for waiters

    # -- reading -----------------------------------------------------------------

    def site_of(self, member: str) -> str:
        return self.member_sites.get(member, member)

    def site_pools(self, site: str) -> list[pool.Pool]:
        if self._site_pools is None:
            by_site: dict[str, list[pool.Pool]] = {}
            for name in sorted(self.pools):
                p = self.pools[name].value
                by_site.setdefault(p.site, []).append(p)
            self._site_pools = by_site
        return self._site_pools.get(site, [])

    def pool(self, name: str) -> pool.Pool | None:
        entry = self.pools.get(name)
        return entry.value if entry is not None else None

    def ledger_of(self, site: str) -> ledger.Ledger:
        return self.ledgers.setdefault(site, ledger.Ledger())

    def revision_of(self, key: bytes) -> int:
        """The key's mod_revision, 0 when it is absent (as a txn compares it)."""
        return self._revisions.get(key, 0)

    def holders(self, pool_name: str, addr: address.Address) -> Entry[Holders] | None:
        return self.addrs.get(pool_name, {}).get(addr)

    def owner(self, member: str, owner: str, family: int) -> Entry[keys.OwnerRecord] | None:
        return self.owners.get((member, owner, family))

    def allocations(self, pool_name: str | None = None) -> list[ledger.Allocation]:
        """Every holder of every address record, by pool then address."""
        result: list[ledger.Allocation] = []
        for name in sorted(self.addrs) if pool_name is None else [pool_name]:
            for addr in sorted(self.addrs.get(name, {}), key=lambda a: (a.version, int(a))):
                result.extend(self.addrs[name][addr].value or ())
        return result

    def decide(self, req: request.Request, now: float) -> allocator.Decision | allocator.Refusal:
        """The pure core's decision for ``req`` on this state (changes nothing lasting)."""
        site = self.site_of(req.member)
        return allocator.allocate(req, self.site_pools(site), self.indexes,
                                  self.ledger_of(site), now, self.cooldown)

    # -- in-flight reservations --------------------------------------------------

    def reserve(self, pool_name: str, addr: address.Address) -> None:
        """Hide an address from other decisions while a txn for it is in flight."""
        self.reserved[(pool_name, addr)] = self.reserved.get((pool_name, addr), 0) + 1
        self._sync_index(pool_name, addr, None)

    def unreserve(self, pool_name: str, addr: address.Address) -> None:
        count = self.reserved.pop((pool_name, addr), 0) - 1
        if count > 0:
            self.reserved[(pool_name, addr)] = count
        self._sync_index(pool_name, addr, None)

    # -- changes -------------------------------------------------------------------

    def load(self, kvs: Iterable[base.KeyValue], revision: int) -> None:
        """Replace everything with a full read of the prefix at ``revision``."""
        self.clear()
        self.apply([(kv.key, kv, kv.mod_revision) for kv in kvs])
        self.floor = self.revision = revision

    def watched(self, revision: int) -> None:
        """The watch has delivered everything up to ``revision``: forget older tombs."""
        self.revision = max(self.revision, revision)
        # tombs are kept in the order they were made (a re-made tomb moves to the end),
        # so the old ones are at the front: forgetting them costs what is forgotten,
        # not a pass over every tomb per watch batch
        tombs = self._tombs
        while tombs:
            key = next(iter(tombs))
            if tombs[key] > revision:
                break
            tombs.popitem(last=False)

    def known(self, key: bytes) -> int:
        return max(self._revisions.get(key, 0), self._tombs.get(key, 0), self.floor)

    def apply_snapshot(self, prefix: bytes, kvs: Iterable[base.KeyValue],
                       revision: int) -> None:
        """Every key under ``prefix`` as read at ``revision`` (absent ones: deleted)."""
        seen = {kv.key: kv for kv in kvs}
        gone = [k for k in self._revisions if k.startswith(prefix) and k not in seen]
        self.apply([(kv.key, kv, kv.mod_revision) for kv in seen.values()]
                   + [(k, None, revision) for k in gone])

    def apply(self, changes: Iterable[Change]) -> int:
        """Apply changes newer than what is known of their keys; returns how many."""
        newest: dict[bytes, tuple[base.KeyValue | None, int]] = {}
        for key, kv, rev in changes:
            if key not in newest or rev > newest[key][1]:
                newest[key] = (kv, rev)
        accepted: list[tuple[keys.Parsed, bytes, base.KeyValue | None, int]] = []
        for key, (kv, rev) in newest.items():
            if rev <= self.known(key):
                continue
            try:
                parsed = keys.parse_key(key)
            except keys.KeyInvalid as err:
                log.warning("ignoring %s", err)
                continue
            accepted.append((parsed, key, kv, rev))
        if not accepted:
            return 0
        now = time.monotonic()
        # Holders leave the ledgers before any arrive: within one revision an owner
        # may move from one address to another (one owner, one address per family).
        for parsed, _, _, _ in accepted:
            if parsed.kind == "addr":
                assert parsed.address is not None
                old = self.holders(parsed.pool, parsed.address)
                for holder in (old.value or ()) if old else ():
                    self._ledger_remove(holder)
        rebuild: set[str] = set()
        for parsed, key, kv, rev in accepted:
            if kv is None:
                self._revisions.pop(key, None)
                self._tombs.pop(key, None)
                self._tombs[key] = rev
            else:
                self._tombs.pop(key, None)
                self._revisions[key] = rev
            self._store(parsed, kv, rev, rebuild)
        for name in rebuild:
            self._rebuild(name)
        for parsed, _, _, _ in accepted:
            if parsed.kind != "addr":
                continue
            assert parsed.address is not None
            entry = self.holders(parsed.pool, parsed.address)
            if entry is not None:
                for holder in entry.value or ():
                    self._ledger_add(holder, entry.revision)
            if parsed.pool not in rebuild:
                self._sync_index(parsed.pool, parsed.address, now)
        self.changes += 1
        return len(accepted)

    def _store(self, parsed: keys.Parsed, kv: base.KeyValue | None, rev: int,
               rebuild: set[str]) -> None:
        if parsed.kind == "poolset":
            self.poolset_revision = rev if kv is not None else 0
        elif parsed.kind == "lock":
            if kv is None:
                self.locks.pop(parsed.pool, None)
            else:
                self.locks[parsed.pool] = rev
        elif parsed.kind == "pool":
            self._store_pool(parsed.pool, kv, rev)
            rebuild.add(parsed.pool)
        elif parsed.kind == "addr":
            assert parsed.address is not None
            held = self.addrs.setdefault(parsed.pool, {})
            if kv is None:
                held.pop(parsed.address, None)
                if not held:
                    del self.addrs[parsed.pool]
                return
            holders: Holders
            try:
                holders = keys.addr_from_json(parsed.pool, parsed.address, kv.value)
            except (ValueError, KeyError, TypeError) as err:
                # Keep the address taken: an unreadable record still means "in use".
                log.error("unreadable address record %s: %s", kv.key.decode(), err)
                holders = None
            held[parsed.address] = Entry(holders, rev)
        elif parsed.kind == "owner":
            self._store_owner(parsed, kv, rev)

    def _store_pool(self, name: str, kv: base.KeyValue | None, rev: int) -> None:
        self._site_pools = None
        self.pools_generation += 1
        if kv is None:
            self.pools.pop(name, None)
            self.pool_meta.pop(name, None)
            return
        try:
            p, meta = keys.pool_record(kv.value)
        except (ValueError, ipam_errors.PoolInvalid) as err:
            log.error("unreadable pool %s: %s", name, err)
            self.pools.pop(name, None)
            self.pool_meta.pop(name, None)
            return
        self.pools[name] = Entry(p, rev)
        self.pool_meta[name] = meta

    def _store_owner(self, parsed: keys.Parsed, kv: base.KeyValue | None, rev: int) -> None:
        owner_key = (parsed.member, parsed.owner, parsed.family)
        old = self.owners.pop(owner_key, None)
        if old is not None:
            service = (parsed.member, old.value.namespace, old.value.service)
            ids = self.services.get(service, set())
            if not any((parsed.member, parsed.owner, f) in self.owners for f in (4, 6)):
                ids.discard(parsed.owner)
            if not ids:
                self.services.pop(service, None)
        if kv is None:
            return
        try:
            record = keys.owner_from_json(kv.value)
        except (ValueError, KeyError, TypeError) as err:
            log.error("unreadable owner record %s: %s", kv.key.decode(), err)
            return
        self.owners[owner_key] = Entry(record, rev)
        self.services.setdefault((parsed.member, record.namespace, record.service),
                                 set()).add(parsed.owner)

    def _ledger_remove(self, holder: ledger.Allocation) -> None:
        held = self.ledger_of(self.site_of(holder.member))
        if held.owned(holder.owner).get(holder.family) == holder:
            held.remove(holder)
            self._ledger_revision.pop((holder.owner, holder.family), None)

    def _ledger_add(self, holder: ledger.Allocation, rev: int) -> None:
        held = self.ledger_of(self.site_of(holder.member))
        slot = (holder.owner, holder.family)
        current = held.owned(holder.owner).get(holder.family)
        if current is not None:
            if current != holder and self._ledger_revision.get(slot, 0) > rev:
                return  # a newer record already moved the owner; this one is on its way out
            held.remove(current)
        held.add(holder)
        self._ledger_revision[slot] = rev

    def _rebuild(self, name: str) -> None:
        entry = self.pools.get(name)
        if entry is None:
            self.indexes.pop(name, None)
            return
        free = index.FreeIndex.from_pool(entry.value)
        taken = set(self.addrs.get(name, {}))
        taken.update(addr for pool_name, addr in self.reserved if pool_name == name)
        for addr in taken:
            if free.contains(addr) and free.is_free(addr):
                free.take(addr)
        self.indexes[name] = free

    def _sync_index(self, pool_name: str, addr: address.Address, now: float | None) -> None:
        """Taken in the index exactly while a record or a reservation holds it."""
        free = self.indexes.get(pool_name)
        if free is None or not free.contains(addr):
            return
        wanted = addr in self.addrs.get(pool_name, {}) or (pool_name, addr) in self.reserved
        is_free = free.is_free(addr)
        if wanted and is_free:
            free.take(addr)
        elif not wanted and not is_free:
            cooling = now is not None and self.cooldown > 0
            free.release(addr, released_at=now if cooling else None)
