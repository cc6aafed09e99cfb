"""The in-memory IPAM state of one site: its pools, their free indexes, the ledger.

``Site`` keeps the three consistent: it builds the indexes from the pools and the
recorded allocations, asks ``allocator.allocate`` for decisions, and applies a
decision or a release once the caller has made it true in the Store (the Store's
allocation keys are the truth; this is a cache of them).  It also refuses pool
changes that would strand live addresses.  No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from ipam import allocator, errors, index, ledger, pool, request


class Site:
    """Pools of one site with their free space and current allocations."""

    def __init__(self, pools: Iterable[pool.Pool],
                 allocations: Iterable[ledger.Allocation] = ()) -> None:
        self.pools = sorted(pools, key=lambda p: p.name)
        pool.validate_set(self.pools)
        self.held = ledger.Ledger()
        self.indexes = {p.name: index.FreeIndex.from_pool(p) for p in self.pools}
        for allocation in allocations:
            self._record(allocation)

    def _record(self, allocation: ledger.Allocation) -> None:
        free = self.indexes.get(allocation.pool)
        if free is None or not free.contains(allocation.address):
            raise errors.AddressNotInPool(
                f"{pool.describe(allocation.pool)}: {allocation.describe()} holds"
                f" {allocation.address}, which the pool does not hand out")
        if not self.held.holders(allocation.address):
            free.take(allocation.address)
        self.held.add(allocation)

    def allocate(self, req: request.Request, now: float | None = None,
                 cooldown: float = 0.0) -> allocator.Decision | allocator.Refusal:
        """The decision for ``req``; changes nothing."""
        return allocator.allocate(req, self.pools, self.indexes, self.held, now, cooldown)

    def apply(self, decision: allocator.Decision, req: request.Request,
              now: float | None = None) -> None:
        """Record a decision made true in the Store; old addresses cool from ``now``.

        A decision made against older state is refused whole, before any change.
        """
        old = self.held.owned(req.owner)
        for assignment in decision.assignments:
            self._check_still_valid(assignment, req, old)
        for allocation in old.values():
            self.held.remove(allocation)
        for assignment in decision.assignments:
            if not assignment.kept and not assignment.shared:
                self.indexes[assignment.pool].take(assignment.address)
            self.held.add(ledger.Allocation(
                req.member, req.namespace, req.service, req.uid, assignment.pool,
                assignment.address, req.sharing_key, req.ports))
        self._give_back(old.values(), now)

    def _check_still_valid(self, assignment: allocator.Assignment, req: request.Request,
                           old: dict[int, ledger.Allocation]) -> None:
        addr = assignment.address
        others = [h for h in self.held.holders(addr) if h.owner != req.owner]
        if assignment.kept:
            ok = old.get(assignment.family) is not None \
                and old[assignment.family].address == addr
        elif assignment.shared:
            ok = bool(others) and bool(req.sharing_key) and all(
                h.member == req.member and h.sharing_key == req.sharing_key
                and not set(h.ports) & set(req.ports) for h in others)
        else:
            ok = not others and self.indexes[assignment.pool].is_free(addr)
        if not ok:
            raise errors.AddressNotFree(
                f"{pool.describe(assignment.pool)}: {addr} changed hands since the"
                f" decision for {req.describe()}; decide again")

    def release(self, owner: ledger.Owner, now: float | None = None) -> list[ledger.Allocation]:
        """Forget every allocation of ``owner`` (a deleted Service); return them."""
        old = list(self.held.owned(owner).values())
        for allocation in old:
            self.held.remove(allocation)
        self._give_back(old, now)
        return old

    def _give_back(self, allocations: Iterable[ledger.Allocation], now: float | None) -> None:
        for allocation in allocations:
            free = self.indexes.get(allocation.pool)
            if free is None or self.held.holders(allocation.address):
                continue  # still shared, or the pool is gone
            if not free.is_free(allocation.address):
                free.release(allocation.address, released_at=now)

    def stranded(self, pools: Iterable[pool.Pool]) -> list[ledger.Allocation]:
        """Allocations that ``pools`` would no longer cover (pool gone or shrunk)."""
        by_name = {p.name: p for p in pools}
        return [a for a in self.held
                if a.pool not in by_name
                or not by_name[a.pool].contains(a.family, int(a.address))]

    def with_pools(self, pools: Iterable[pool.Pool]) -> Site:
        """A new Site over changed pools, refused while it would strand an address.

        To shrink a pool under live addresses, drain it and move the services first.
        Cooling addresses start afresh: they are free at once in the new Site.
        """
        pools = list(pools)
        lost = self.stranded(pools)
        if lost:
            first = lost[0]
            raise errors.PoolInUse(
                f"{pool.describe(first.pool)}: the change would strand {first.address}"
                f" held by {first.describe()}"
                + (f" and {len(lost) - 1} more" if len(lost) > 1 else ""))
        return Site(pools, self.held)

    def usage(self) -> dict[str, dict[str, int]]:
        """Exact counts per pool, for the caller's ``fedns_ipam_*`` metrics."""
        return {name: {"capacity": free.capacity, "used": free.used, "free": free.free}
                for name, free in self.indexes.items()}
