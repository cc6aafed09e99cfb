"""``IPAM``: the pure ipam core made durable and race-free through the Store.

Decisions come from ``ipam.allocator`` on a ``state.State`` mirror of the Store's
``/fedns/ipam/`` keys (see ``keys`` for the layout); each decision becomes true with
ONE transaction that compares every key it relies on — the address key absent (or,
for a sharer, unchanged), the owner key absent (or unchanged when moving), the pool
spec's mod_revision, no pool lock — and writes the address and owner keys together.
A lost compare reads those keys back in the same round trip, so the next decision
sees them: a conflict only means "try the next address".  Any number of replicas
in any number of processes stay coherent: each loads at one revision and watches
from the next, and the Store decides every race.

Pool edits live in ``pooledit`` and the repair pass in ``repair``; this module does
not talk to member clusters.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Hashable, Iterable, Mapping

from prometheus_client.registry import CollectorRegistry

from fedns.ipamstore import errors, keys, metrics, pooledit, state
from fedns.ipamstore import repair as repairing
from fedns.ipamstore.txn import Plan
from fedns.store import base
from ipam import address, allocator, ledger, pool, request

log = logging.getLogger(__name__)

ATTEMPTS = 64  # decisions per request before giving up with Contended (retryable)


@dataclasses.dataclass(frozen=True)
class Usage:
    """Exact address counts of one pool in one family."""

    site: str
    pool: str
    family: int
    capacity: int
    used: int
    free: int
    state: str  # active | draining

    @property
    def family_name(self) -> str:
        return address.FAMILY_NAMES[self.family]


class _KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class IPAM:
    """Store-backed IPAM for the controller: ``ensure`` and ``release`` per Service,
    pool edits, usage, and a repair pass.  ``start()`` before use, ``stop()`` after."""

    def __init__(self, store: base.Store, member_sites: Mapping[str, str],
                 cooldown: float = 0.0, *, registry: CollectorRegistry | None = None) -> None:
        self.store = store
        self.member_sites = member_sites
        self.cooldown = cooldown
        self.state = state.State(member_sites, cooldown)
        self.metrics = metrics.for_registry(registry)
        self.attempts = ATTEMPTS
        self._services = _KeyedLocks()
        self._watcher: asyncio.Task[None] | None = None
        self._started = False
        self._moved = asyncio.Event()  # set (and replaced) whenever the watch delivers
        self.missing: dict[tuple[str, str], float] = {}  # repair: owner -> first seen gone
        # owner -> (request, what its decision read, decision) of its last ensure that
        # kept every address and wrote nothing: the same request on the same keys
        # gets the same answer without deciding again (most reconciles)
        self._kept: dict[ledger.Owner, tuple[request.Request, tuple[int, ...],
                                             allocator.Decision]] = {}

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Load every IPAM key at one revision, then follow the watch from the next."""
        await self._load()
        self._started = True
        self.metrics.attach(self)
        self._watcher = asyncio.create_task(self._watch(), name="ipam-watch")

    async def stop(self) -> None:
        """Stop watching and reporting usage; the Store stays open (the caller's)."""
        self.metrics.detach(self)
        task, self._watcher = self._watcher, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._started = False

    async def __aenter__(self) -> IPAM:  # noqa: PYI034
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _load(self) -> None:
        found = await self.store.range(keys.PREFIX)
        self.state.load(found.kvs, found.revision)

    async def _watch(self) -> None:
        delay = 0.1
        while True:
            try:
                events = self.store.watch(keys.PREFIX, self.state.revision + 1, prev=False)
                async with contextlib.aclosing(events):  # type: ignore[type-var]  # a generator
                    async for batch in events:
                        self.state.apply([(e.kv.key,
                                           e.kv if e.type is base.EventType.PUT else None,
                                           e.kv.mod_revision) for e in batch])
                        self.state.watched(batch[-1].kv.mod_revision)
                        self._moved.set()
                        self._moved = asyncio.Event()
                        delay = 0.1
            except asyncio.CancelledError:
                raise
            except base.Compacted:
                log.info("IPAM watch fell behind compaction: reloading")
                try:
                    await self._load()
                    continue
                except base.StoreError as err:
                    log.warning("IPAM reload failed (%s); retrying in %.1fs", err, delay)
            except Exception as err:  # noqa: BLE001 - keep watching whatever the Store did
                log.warning("IPAM watch failed (%s); resuming in %.1fs", err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def hold_service(self, service: tuple[str, str, str]) -> contextlib.AbstractAsyncContextManager[None]:
        """Serialise work on one (member, namespace, service)."""
        return self._services.hold(service)

    async def caught_up(self, revision: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the mirror has seen ``revision``."""
        deadline = time.monotonic() + timeout
        while self.state.revision < revision:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._moved.wait(), left)
            except TimeoutError:
                return False
        return True

    def site_of(self, member: str) -> str:
        """The site a member's Services get their addresses from."""
        return self.state.site_of(member)

    def check_started(self) -> None:
        if not self._started:
            raise errors.NotStarted()

    # -- transactions ------------------------------------------------------------

    async def commit(self, plan: Plan) -> int:
        """Run ``plan`` as one txn and bring the mirror up to date either way; returns
        the txn's revision, 0 when a compare failed.

        On success the written keys are applied at the txn's revision; on a lost
        compare every compared key is read back in the same round trip.
        """
        for pool_name, addr in plan.reserve:
            self.state.reserve(pool_name, addr)
        try:
            result = await self.store.txn(list(plan.compare.values()), plan.success(),
                                          plan.reads())
            if result.succeeded:
                rev = result.revision
                self.state.apply(plan.written(rev))
                return rev
            self.apply_reads(list(plan.compare), result)
            return 0
        finally:
            for pool_name, addr in plan.reserve:
                self.state.unreserve(pool_name, addr)

    def apply_reads(self, read: list[bytes], result: base.TxnResult) -> None:
        changes: list[state.Change] = []
        for key, found in zip(read, result.responses):
            kvs = found if isinstance(found, list) else []
            if kvs:
                changes.append((key, kvs[0], kvs[0].mod_revision))
            else:
                changes.append((key, None, result.revision))
        self.state.apply(changes)

    async def refresh(self, keys_to_read: Iterable[bytes]) -> None:
        """Read keys now (one txn) and apply them to the mirror."""
        wanted = list(dict.fromkeys(keys_to_read))
        if wanted:
            result = await self.store.txn([], [base.Get(k) for k in wanted])
            self.apply_reads(wanted, result)

    # -- allocation --------------------------------------------------------------

    async def ensure(self, req: request.Request) -> allocator.Decision | allocator.Refusal:
        """Give ``req`` its addresses (or keep them), durably; or say why not.

        Idempotent: while the Service holds addresses that still satisfy it, the same
        ones come back and nothing is written.  Raises ``errors.Contended`` (retry
        later) when other writers won ``self.attempts`` races in a row, and
        ``errors.PoolBusy`` while a pool edit is checking the chosen pool's holders.
        """
        self.check_started()
        site = self.state.site_of(req.member)
        kept = self._kept.get(req.owner)
        if kept is not None and (kept[0] is req or kept[0] == req) and \
                kept[1] == self._read_by(req, kept[2]):
            self._count(site, kept[2])
            return kept[2]
        began = time.perf_counter()
        try:
            async with self._services.hold((req.member, req.namespace, req.service)):
                return await self._ensure(req, site)
        finally:
            self.metrics.duration.labels(site).observe(time.perf_counter() - began)

    async def _ensure(self, req: request.Request,
                      site: str) -> allocator.Decision | allocator.Refusal:
        for _ in range(self.attempts):
            outcome = self.state.decide(req, time.monotonic())
            if isinstance(outcome, allocator.Refusal):
                self.metrics.allocations.labels(site, "", "", outcome.reason).inc()
                return outcome
            plan = self._plan(req, outcome)
            if not plan.writes and not outcome.release and \
                    all(a.kept for a in outcome.assignments):
                self._remember(req, outcome)
            if plan.writes:
                locked = sorted({a.pool for a in outcome.assignments if not a.kept}
                                & set(self.state.locks))
                if locked:
                    raise errors.PoolBusy(f"{pool.describe(locked[0])} is being changed;"
                                          f" try {req.describe()} again")
                if not await self.commit(plan):
                    first = outcome.assignments[0]
                    self.metrics.conflicts.labels(site, first.pool, _family(first.family),
                                                  "txn").inc()
                    await self._fetch_owned(req)
                    continue
            self._count(site, outcome)
            return outcome
        raise errors.Contended(f"{req.describe()}: lost {self.attempts} races for addresses"
                               " in a row; try again")

    def _remember(self, req: request.Request, decision: allocator.Decision) -> None:
        if len(self._kept) > 2 * len(self.state.owners) + 1024:
            # owners released elsewhere (another replica, a repair) are forgotten here
            held = self.state.services
            self._kept = {o: v for o, v in self._kept.items() if o[:3] in held}
        self._kept[req.owner] = (req, self._read_by(req, decision), decision)

    def _count(self, site: str, decision: allocator.Decision) -> None:
        for a in decision.assignments:
            result = "kept" if a.kept else "shared" if a.shared else "allocated"
            self.metrics.allocations.labels(site, a.pool, _family(a.family), result).inc()

    def _read_by(self, req: request.Request, decision: allocator.Decision) -> tuple[int, ...]:
        """What a decision to keep read, as revisions: the pools, the owner's records
        and its addresses' records (holders, sharers).  Unchanged: same decision."""
        revision_of = self.state.revision_of
        return (self.state.pools_generation,
                *(revision_of(k) for k in _read_keys(req.member, req.uid, req.namespace,
                                                     req.service, decision)))

    def _plan(self, req: request.Request, decision: allocator.Decision) -> Plan:
        st, plan = self.state, Plan()
        oid = keys.owner_id(req.uid, req.namespace, req.service)
        assigned = {a.family for a in decision.assignments}
        for old in decision.release:
            self._leave(plan, req.owner, old.pool, old.address)
            if old.family not in assigned:
                owner_key = keys.owner_key(req.member, oid, old.family)
                plan.expect(owner_key, st.revision_of(owner_key))
                plan.writes[owner_key] = None
                owned = st.owner(req.member, oid, old.family)
                if owned is not None:
                    self._leave(plan, req.owner, owned.value.pool, owned.value.address)
        for a in decision.assignments:
            me = ledger.Allocation(req.member, req.namespace, req.service, req.uid, a.pool,
                                   a.address, req.sharing_key, req.ports)
            if a.kept:
                self._refresh_holder(plan, me)
                continue
            pool_key = keys.pool_key(a.pool)
            plan.expect(pool_key, st.revision_of(pool_key))
            plan.expect(keys.lock_key(a.pool), 0)
            addr_key = keys.addr_key(a.pool, a.address)
            entry = st.holders(a.pool, a.address)
            if a.shared and entry is not None:
                others = [h for h in entry.value or () if h.owner != req.owner]
                plan.expect(addr_key, entry.revision)
                plan.writes[addr_key] = keys.addr_to_json([*others, me])
            else:
                plan.expect(addr_key, 0)
                plan.writes[addr_key] = keys.addr_to_json([me])
                plan.reserve.append((a.pool, a.address))
            owner_key = keys.owner_key(req.member, oid, a.family)
            plan.expect(owner_key, st.revision_of(owner_key))
            plan.writes[owner_key] = keys.owner_to_json(me)
            # Whatever the ledger believes, the address the owner key names now is
            # left in the same txn: an owner is never listed under two addresses.
            owned = st.owner(req.member, oid, a.family)
            if owned is not None:
                self._leave(plan, req.owner, owned.value.pool, owned.value.address)
        return plan

    def _refresh_holder(self, plan: Plan, me: ledger.Allocation) -> None:
        """Rewrite a kept address's record when the holder's ports or sharing key
        changed (the allocator kept it, so they still fit the other sharers)."""
        entry = self.state.holders(me.pool, me.address)
        if entry is None or entry.value is None or me in entry.value:
            return
        holders = [me if h.owner == me.owner else h for h in entry.value]
        addr_key = keys.addr_key(me.pool, me.address)
        plan.expect(addr_key, entry.revision)
        plan.writes[addr_key] = keys.addr_to_json(holders)

    def _leave(self, plan: Plan, owner: ledger.Owner, pool_name: str,
               addr: address.Address) -> None:
        """Take ``owner`` off an address record, if the plan does not already."""
        addr_key = keys.addr_key(pool_name, addr)
        if addr_key in plan.writes:
            return
        entry = self.state.holders(pool_name, addr)
        if entry is None:
            plan.expect(addr_key, 0)  # if it exists after all, it is read back
            return
        rest = [h for h in entry.value or () if h.owner != owner]
        plan.expect(addr_key, entry.revision)
        plan.writes[addr_key] = keys.addr_to_json(rest) if rest else None

    async def _fetch_owned(self, req: request.Request) -> None:
        """Read the address records the owner's records point at, unless known here
        with the owner in them: another replica may have served this Service already
        (then it keeps that answer)."""
        oid = keys.owner_id(req.uid, req.namespace, req.service)
        missing = []
        for family in address.FAMILIES:
            entry = self.state.owner(req.member, oid, family)
            if entry is not None:
                record = entry.value
                held = self.state.holders(record.pool, record.address)
                if held is None or not any(h.owner == req.owner for h in held.value or ()):
                    missing.append(keys.addr_key(record.pool, record.address))
        await self.refresh(missing)

    async def release(self, member: str, namespace: str, service: str,
                      keep_uid: str | None = None) -> list[ledger.Allocation]:
        """Give back the addresses of Service ``namespace/service`` in ``member``,
        except those of the object whose uid is ``keep_uid`` (a re-created Service
        keeps its own).  Returns what was released."""
        self.check_started()
        if not self._to_release(member, namespace, service, keep_uid):
            return []  # the common case, every reconcile: nothing to give back, no lock
        released: list[ledger.Allocation] = []
        async with self._services.hold((member, namespace, service)):
            for oid in self._to_release(member, namespace, service, keep_uid):
                released += await self.release_owner(member, oid)
        return released

    def _to_release(self, member: str, namespace: str, service: str,
                    keep_uid: str | None) -> list[str]:
        found = []
        for oid in sorted(self.state.services.get((member, namespace, service), ())):
            uid = next((e.value.uid for f in address.FAMILIES
                        if (e := self.state.owner(member, oid, f)) is not None), "")
            if keep_uid is None or uid != keep_uid:
                found.append(oid)
        return found

    async def release_owner(self, member: str, oid: str) -> list[ledger.Allocation]:
        """Delete one owner's address and owner keys, guarded by the owner records."""
        for _ in range(self.attempts):
            st, plan, mine = self.state, Plan(), []
            for family in address.FAMILIES:
                entry = st.owner(member, oid, family)
                if entry is None:
                    continue
                record = entry.value
                owner_key = keys.owner_key(member, oid, family)
                plan.expect(owner_key, entry.revision)
                plan.writes[owner_key] = None
                addr_key = keys.addr_key(record.pool, record.address)
                held = st.holders(record.pool, record.address)
                if held is None:
                    plan.expect(addr_key, 0)  # if it exists after all, read it and retry
                    mine.append(ledger.Allocation(member, record.namespace, record.service,
                                                  record.uid, record.pool, record.address))
                    continue
                holders = held.value or ()
                gone = [h for h in holders
                        if h.member == member and keys.owner_id(h.uid, h.namespace,
                                                                h.service) == oid]
                rest = [h for h in holders if h not in gone]
                mine.extend(gone)
                plan.expect(addr_key, held.revision)
                plan.writes[addr_key] = keys.addr_to_json(rest) if rest else None
            if not plan.writes:
                return []
            if await self.commit(plan):
                for gone_one in mine:
                    self._kept.pop(gone_one.owner, None)
                return mine
        raise errors.Contended(f"releasing {member}/{oid}: lost {self.attempts} races in a row")

    # -- reading ---------------------------------------------------------------

    def pools(self) -> list[pool.Pool]:
        """Every pool, by name."""
        return [p for name in sorted(self.state.pools)
                if (p := self.state.pool(name)) is not None]

    def usage(self) -> list[Usage]:
        """Capacity, used and free addresses per pool and family, by site then pool."""
        rows = []
        for p in self.pools():
            free = self.state.indexes[p.name]
            for family in free.families:
                rows.append(Usage(p.site, p.name, family, free.capacity_of(family),
                                  free.used_of(family), free.free_of(family),
                                  "draining" if p.draining else "active"))
        return sorted(rows, key=lambda u: (u.site, u.pool, u.family))

    def allocations(self, pool: str | None = None) -> list[ledger.Allocation]:
        """Every holder of every allocated address (one per sharer), by pool and address.

        Includes addresses a pool no longer covers (left by a drained pool's edit).
        """
        return self.state.allocations(pool)

    # -- pool edits and repair (see pooledit and repair) --------------------------

    async def apply_pools(self, pools: Iterable[pool.Pool]) -> list[pool.Pool]:
        """Create or update pools, all or nothing; returns the pools that changed."""
        return await pooledit.apply_pools(self, list(pools))

    async def drain(self, name: str) -> pool.Pool:
        """Mark a pool draining: it hands out no new address, holders keep theirs."""
        return await pooledit.drain(self, name)

    async def undrain(self, name: str) -> pool.Pool:
        """Clear a pool's draining mark: it hands out addresses again."""
        return await pooledit.undrain(self, name)

    async def upgrade_pool_records(self) -> list[str]:
        """Rewrite pool records of the older form as IPPool objects (once, at start)."""
        return await pooledit.upgrade_records(self)

    async def write_pool_record(self, name: str, expected: int, new: pool.Pool | None,
                                value: bytes | None) -> int:
        """The API's write of one IPPool object (see ``pooledit.write_record``)."""
        return await pooledit.write_record(self, name, expected, new, value)

    async def delete_pool(self, name: str) -> pool.Pool:
        """Delete a pool; refused while it holds addresses unless it is draining."""
        return await pooledit.delete_pool(self, name)

    async def repair(self, existing: Mapping[str, Collection[tuple[str, str, str]]]
                     | Callable[[ledger.Owner], bool | None],
                     statuses: Iterable[tuple[request.Request, Iterable[str]]] = (),
                     grace: float = 300.0, now: float | None = None) -> repairing.Report:
        """Release allocations of Services gone for ``grace`` seconds; adopt addresses
        found in Service statuses; report what cannot be adopted.  See ``repair``."""
        return await repairing.repair(self, existing, statuses, grace, now)


def _family(family: int) -> str:
    return address.FAMILY_NAMES[family]


@functools.lru_cache(maxsize=1 << 14)
def _read_keys(member: str, uid: str, namespace: str, service: str,
               decision: allocator.Decision) -> tuple[bytes, ...]:
    """The keys a decision to keep reads: the owner's records (every family) and its
    addresses' records."""
    oid = keys.owner_id(uid, namespace, service)
    return (*(keys.owner_key(member, oid, f) for f in address.FAMILIES),
            *(keys.addr_key(a.pool, a.address) for a in decision.assignments))
