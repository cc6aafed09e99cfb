"""Pool edits through the Store: create, update, drain and delete, all or nothing.

- The whole pool set stays valid (``pool.validate_set``: unique names, no overlap
  within a site): every edit compares and rewrites the ``poolset`` key, so two
  concurrent edits cannot each pass validation and together overlap.
- Widening a pool (more addresses, fewer reserved) just writes the new spec; every
  allocation decided against the old spec loses its pool compare and is decided
  again on the new one.
- Any other change to an existing pool (shrink, more reserved, avoidBuggyIPs, a new
  site) and a delete could strand live addresses.  The edit first takes the pool's
  lock (a leased key every allocation txn requires absent), then reads the pool's
  address records — now complete, as no allocation can land meanwhile — and refuses
  with the holders listed, unless the pool is draining already (``drain``): then the
  holders keep their records and the controller moves them on its next pass.

Called through ``manager.IPAM``; the key layout is in ``keys``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import AsyncIterator

from fedns.ipamstore import errors, keys
from fedns.ipamstore.core import Core
from fedns.ipamstore.txn import Plan
from fedns.store import base
from ipam import address, ledger, pool
from ipam import errors as ipam_errors

LOCK_TTL = 30  # seconds a crashed editor's lock outlives it
SHOWN_HOLDERS = 10  # holders named in a refusal, then "and N more"


async def apply_pools(ipam: Core, pools: list[pool.Pool]) -> list[pool.Pool]:
    """Create or update ``pools`` (others are left alone); returns those that changed."""
    ipam.check_started()
    pool.validate_set(pools)
    for _ in range(ipam.attempts):
        current = {p.name: p for p in ipam.pools()}
        changed = [p for p in pools if current.get(p.name) != p]
        if not changed:
            return []
        merged = {**current, **{p.name: p for p in changed}}
        pool.validate_set(merged.values())
        risky = sorted(p.name for p in changed
                       if p.name in current and not widens(current[p.name], p))
        async with _locked(ipam, risky) as plan:
            for p in changed:
                if p.name in risky:
                    _refuse_stranding(current[p.name], stranded(ipam, current[p.name], p))
            _guard_poolset(ipam, plan, sorted(merged))
            for p in changed:
                key = keys.pool_key(p.name)
                plan.expect(key, ipam.state.revision_of(key))
                plan.writes[key] = keys.pool_to_json(p, ipam.state.pool_meta.get(p.name))
            if await ipam.commit(plan):
                return changed
        await reload_pools(ipam)
    raise errors.Contended("pools kept changing under this edit; try again")


async def drain(ipam: Core, name: str) -> pool.Pool:
    """Set ``draining``: no new addresses from the pool; holders keep theirs."""
    return await _mark_draining(ipam, name, True)


async def undrain(ipam: Core, name: str) -> pool.Pool:
    """Clear ``draining``: the pool hands out addresses again."""
    return await _mark_draining(ipam, name, False)


async def _mark_draining(ipam: Core, name: str, draining: bool) -> pool.Pool:
    ipam.check_started()
    for _ in range(ipam.attempts):
        p = _existing(ipam, name)
        if p.draining == draining:
            return p
        marked = dataclasses.replace(p, draining=draining)
        plan = Plan()
        key = keys.pool_key(name)
        plan.expect(key, ipam.state.revision_of(key))
        plan.writes[key] = keys.pool_to_json(marked, ipam.state.pool_meta.get(name))
        if await ipam.commit(plan):
            return marked
    raise errors.Contended(f"{pool.describe(name)} kept changing; try again")


async def delete_pool(ipam: Core, name: str) -> pool.Pool:
    """Delete a pool; refused while it holds addresses unless it is draining."""
    ipam.check_started()
    for _ in range(ipam.attempts):
        p = _existing(ipam, name)
        async with _locked(ipam, [name]) as plan:
            p = _existing(ipam, name)
            _refuse_stranding(p, stranded(ipam, p, None))
            _guard_poolset(ipam, plan, sorted(set(ipam.state.pools) - {name}))
            key = keys.pool_key(name)
            plan.expect(key, ipam.state.revision_of(key))
            plan.writes[key] = None
            if await ipam.commit(plan):
                return p
        await reload_pools(ipam)
    raise errors.Contended(f"{pool.describe(name)} kept changing; try again")


async def upgrade_records(ipam: Core) -> list[str]:
    """Rewrite pool records of the older form (a bare pool mapping) as IPPool objects,
    each compared at the revision read; returns the names rewritten."""
    ipam.check_started()
    done = []
    for name in sorted(ipam.state.pools):
        if ipam.state.pool_meta.get(name):
            continue
        p = ipam.state.pools[name].value
        plan = Plan()
        key = keys.pool_key(name)
        plan.expect(key, ipam.state.revision_of(key))
        plan.writes[key] = keys.pool_to_json(p)
        if await ipam.commit(plan):
            done.append(name)
    return done


async def write_record(ipam: Core, name: str, expected: int, new: pool.Pool | None,
                       value: bytes | None) -> int:
    """Write one pool record as given (``value``, the IPPool object the API built for
    ``new``; None for both: delete it) if the record is still at revision ``expected``
    (0: absent), with the checks of ``apply_pools`` and ``delete_pool``.  Returns the
    write's revision, or 0 when the record changed meanwhile (the caller reads it
    again); refusals raise as those do."""
    ipam.check_started()
    key = keys.pool_key(name)
    for _ in range(ipam.attempts):
        current = {p.name: p for p in ipam.pools()}
        old = current.get(name)
        merged = {n: p for n, p in current.items() if n != name}
        if new is not None:
            merged[name] = new
        pool.validate_set(merged.values())
        risky = [name] if old is not None and (new is None or not widens(old, new)) else []
        async with _locked(ipam, risky) as plan:
            if old is not None and risky:
                _refuse_stranding(old, stranded(ipam, old, new))
            _guard_poolset(ipam, plan, sorted(merged))
            plan.expect(key, expected)
            plan.writes[key] = value
            revision = await ipam.commit(plan)
            if revision:
                return revision
        if ipam.state.revision_of(key) != expected:
            return 0
        await reload_pools(ipam)
    raise errors.Contended(f"{pool.describe(name)} kept changing; try again")


async def reload_pools(ipam: Core) -> None:
    """Read every pool spec again: another edit won, perhaps adding pools."""
    found = await ipam.store.range(keys.POOLS)
    ipam.state.apply_snapshot(keys.POOLS, found.kvs, found.revision)


def widens(old: pool.Pool, new: pool.Pool) -> bool:
    """True when every address ``old`` hands out, ``new`` hands out too."""
    return (old.site == new.site
            and not address.subtract(old.ranges, new.ranges)
            and not address.subtract(new.reserved_ranges, old.reserved_ranges)
            and (old.avoid_buggy_ips or not new.avoid_buggy_ips))


def stranded(ipam: Core, old: pool.Pool, new: pool.Pool | None) -> list[ledger.Allocation]:
    """Holders of ``old``'s addresses that ``new`` (None: deleted) would not cover."""
    return [h for h in ipam.allocations(old.name)
            if old.contains(h.family, int(h.address))
            and (new is None or new.site != old.site
                 or not new.contains(h.family, int(h.address)))]


def _refuse_stranding(old: pool.Pool, holders: list[ledger.Allocation]) -> None:
    if not holders or old.draining:
        return
    shown = ", ".join(f"{h.address} held by {h.describe()}" for h in holders[:SHOWN_HOLDERS])
    more = f" and {len(holders) - SHOWN_HOLDERS} more" if len(holders) > SHOWN_HOLDERS else ""
    raise ipam_errors.PoolInUse(
        f"{pool.describe(old.name)}: the change would strand {len(holders)} address"
        f"{'es' if len(holders) != 1 else ''} in use: {shown}{more}; drain the pool first"
        f" (fedns pool drain {old.name} --store URL, or spec.draining: true on its IPPool"
        f" at the API) and move those Services")


def _existing(ipam: Core, name: str) -> pool.Pool:
    p = ipam.state.pool(name)
    if p is None:
        raise errors.PoolNotFound(f"{pool.describe(name)} not found")
    return p


def _guard_poolset(ipam: Core, plan: Plan, names: list[str]) -> None:
    plan.expect(keys.POOLSET, ipam.state.poolset_revision)
    plan.writes[keys.POOLSET] = keys.poolset_to_json(names)


@contextlib.asynccontextmanager
async def _locked(ipam: Core, names: list[str]) -> AsyncIterator[Plan]:
    """Hold the locks of ``names`` (leased), with every address record of those pools
    read after taking them.  Yields a Plan that checks the locks and removes them."""
    plan = Plan()
    if not names:
        yield plan
        return
    lease = await ipam.store.grant(LOCK_TTL)
    try:
        take = Plan()
        for name in names:
            key = keys.lock_key(name)
            take.expect(key, 0)
            take.writes[key] = keys.lock_to_json(_who(), "pool edit")
            take.leases[key] = lease.id
        if not await ipam.commit(take):
            busy = sorted(set(names) & set(ipam.state.locks)) or names
            raise errors.PoolBusy(f"{pool.describe(busy[0])} is being changed by another"
                                  " edit; try again")
        for name in names:
            prefix = keys.addr_prefix(name)
            found = await ipam.store.range(prefix)
            ipam.state.apply_snapshot(prefix, found.kvs, found.revision)
            key = keys.lock_key(name)
            plan.expect(key, ipam.state.revision_of(key))
            plan.writes[key] = None
        yield plan
    finally:
        with contextlib.suppress(base.StoreError):
            await ipam.store.revoke(lease.id)  # deletes whatever lock is left
        with contextlib.suppress(base.StoreError):
            await ipam.refresh(keys.lock_key(name) for name in names)


def _who() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
