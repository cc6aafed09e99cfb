"""Allocation decisions: which pool and address each family of a Service gets.

``allocate`` is pure: from the pools of the member's site, their ``FreeIndex``, the
``Ledger`` of current allocations and a ``Request`` it returns a ``Decision`` or a
``Refusal`` (machine-readable ``reason``, one-line ``message``) and changes nothing.
``apply`` and ``release`` update the in-memory index and ledger once the caller has
made the decision true in the Store.  No I/O here.

Rules (MetalLB's, plus what a federation needs):
- An address the owner already holds is kept while an explicit request for it would
  still be accepted (a draining pool does not evict it); otherwise it is released.
- Pool choice: the requested pool (``metallb.io/address-pool``); else the autoAssign
  pools whose selectors match, those WITH selectors first, each group by priority
  (lower first) then name.  A pool with autoAssign false is used only on request.
- Address: the requested one, else the lowest free after the cooldown.
- Sharing (``metallb.io/allow-shared-ip``): sharers are services of the same member
  with the same key and no common (protocol, port); a key is bound to one address per
  family, so a new sharer always lands on it.
- Families: SingleStack and RequireDualStack need every family; PreferDualStack
  leaves out a family it cannot get unless an address was asked for in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from ipam import address, index, ledger, pool, request

REASONS = frozenset({
    "no_pool", "selector_mismatch", "requested_ip_taken", "requested_ip_outside_pools",
    "sharing_incompatible", "pool_exhausted", "pool_draining",
})
# Refusals PreferDualStack may skip for a family nothing was asked in.
_SKIPPABLE = frozenset({"no_pool", "selector_mismatch", "pool_exhausted", "pool_draining"})


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One family's address.  ``kept``: the owner held it already; ``shared``: other
    services hold it too."""

    family: int
    pool: str
    address: address.Address
    kept: bool = False
    shared: bool = False


@dataclasses.dataclass(frozen=True)
class Decision:
    """The addresses to hold, and the owner's old allocations to give back."""

    assignments: tuple[Assignment, ...]
    release: tuple[ledger.Allocation, ...] = ()

    def addresses(self) -> list[str]:
        return [str(a.address) for a in self.assignments]


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why no address was given; ``reason`` is one of ``REASONS``."""

    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown refusal reason {self.reason!r}")


def allocate(req: request.Request, pools: Iterable[pool.Pool],
             indexes: Mapping[str, index.FreeIndex], held: ledger.Ledger,
             now: float | None = None, cooldown: float = 0.0) -> Decision | Refusal:
    """Decide the addresses of ``req`` from the pools of its member's site."""
    chooser = _Chooser(req, list(pools), indexes, held, now, cooldown)
    if req.pool is not None and req.pool not in chooser.by_name:
        return chooser.refuse("no_pool", f"pool {address.quote(req.pool)} does not exist"
                              f" in the site of member {address.quote(req.member)}")
    assignments: list[Assignment] = []
    skipped: Refusal | None = None
    for family in req.families:
        outcome = chooser.decide(family)
        if isinstance(outcome, Assignment):
            assignments.append(outcome)
        elif req.required(family) or outcome.reason not in _SKIPPABLE:
            return outcome
        else:
            skipped = skipped or outcome
    if not assignments:
        assert skipped is not None
        return skipped
    keep = {(a.family, a.address) for a in assignments}
    mine = held.owned(req.owner)
    return Decision(tuple(assignments),
                    tuple(a for a in mine.values() if (a.family, a.address) not in keep))


class _Chooser:
    def __init__(self, req: request.Request, pools: list[pool.Pool],
                 indexes: Mapping[str, index.FreeIndex], held: ledger.Ledger,
                 now: float | None, cooldown: float) -> None:
        self.req, self.pools, self.indexes, self.held = req, pools, indexes, held
        self.now, self.cooldown = now, cooldown
        self.by_name = {p.name: p for p in pools}
        self.mine = held.owned(req.owner)

    def refuse(self, reason: str, problem: str) -> Refusal:
        return Refusal(reason, f"{self.req.describe()}: {problem}")

    def decide(self, family: int) -> Assignment | Refusal:
        own = self.mine.get(family)
        asked = self.req.addresses.get(family)
        bound = self._binding(family)
        if bound is not None and asked is not None and asked != bound:
            return self.refuse("sharing_incompatible",
                               f"sharing key {address.quote(self.req.sharing_key)} is bound"
                               f" to {bound}, but {asked} was requested")
        target = bound if bound is not None else asked
        if own is not None and target in (None, own.address):
            kept = self._check(own.address, family, keeping=True, via_key=False)
            if isinstance(kept, Assignment) or target is not None:
                return kept
        if target is not None:
            return self._check(target, family, keeping=False, via_key=bound is not None)
        return self._automatic(family)

    def _binding(self, family: int) -> address.Address | None:
        key = self.req.sharing_key
        if not key:
            return None
        for addr in self.held.bound(self.req.member, key, family):
            if any(h.owner != self.req.owner for h in self.held.holders(addr)):
                return addr
        return None

    def _check(self, addr: address.Address, family: int, keeping: bool,
               via_key: bool) -> Assignment | Refusal:
        """Would an explicit request for ``addr`` be accepted?"""
        value = int(addr)
        home = next((p for p in self.pools if p.contains(family, value)), None)
        if home is None:
            covering = next((p for p in self.pools if p.covers(family, value)), None)
            why = (covering.exclusion(family, value) if covering is not None  # reserved, buggy
                   else "is not in any pool of the member's site")
            return self.refuse("requested_ip_outside_pools", f"{addr} {why}")
        if self.req.pool is not None and home.name != self.req.pool:
            return self.refuse("sharing_incompatible" if via_key else
                               "requested_ip_outside_pools",
                               f"{addr} is in pool {address.quote(home.name)}, not in the"
                               f" requested pool {address.quote(self.req.pool)}")
        if not home.selects(self.req.namespace_labels, self.req.service_labels):
            return self.refuse("selector_mismatch",
                               f"pool {address.quote(home.name)}'s selectors do not match"
                               " the service or its namespace")
        if home.draining and not keeping:
            return self.refuse("pool_draining", f"pool {address.quote(home.name)} is draining")
        others = [h for h in self.held.holders(addr) if h.owner != self.req.owner]
        if others:
            refusal = self._sharing(addr, others)
            if refusal is not None:
                return refusal
        elif not keeping and not self.indexes[home.name].is_free(addr):
            return self.refuse("requested_ip_taken", f"{addr} is already allocated in pool"
                               f" {address.quote(home.name)}")
        return Assignment(family, home.name, addr, kept=keeping, shared=bool(others))

    def _sharing(self, addr: address.Address,
                 others: list[ledger.Allocation]) -> Refusal | None:
        key = self.req.sharing_key
        for other in others:
            if other.member != self.req.member or not key or not other.sharing_key:
                hint = ("" if other.member != self.req.member else
                        " which does not allow sharing" if not other.sharing_key else
                        f"; set {request.SHARING_ANNOTATION} to share it")
                return self.refuse("requested_ip_taken",
                                   f"{addr} is held by {other.describe()}{hint}")
            if other.sharing_key != key:
                return self.refuse("sharing_incompatible",
                                   f"{addr} is shared under key"
                                   f" {address.quote(other.sharing_key)} by"
                                   f" {other.describe()}, not {address.quote(key)}")
        wanted = set(self.req.ports)
        for other in others:
            for protocol, port in sorted(wanted.intersection(other.ports)):
                return self.refuse("sharing_incompatible",
                                   f"port {protocol}/{port} on {addr} is already used by"
                                   f" {other.describe()}")
        return None

    def _automatic(self, family: int) -> Assignment | Refusal:
        which = address.FAMILY_NAMES[family]
        if self.req.pool is not None:
            candidates = [self.by_name[self.req.pool]]
        else:
            candidates = sorted((p for p in self.pools if p.auto_assign),
                                key=lambda p: (not p.has_selector, p.priority, p.name))
        seen: dict[str, list[str]] = {"family": [], "mismatch": [], "draining": [], "full": []}
        for p in candidates:
            if family not in p.families:
                continue
            seen["family"].append(p.name)
            if not p.selects(self.req.namespace_labels, self.req.service_labels):
                seen["mismatch"].append(p.name)
                continue
            if p.draining:
                seen["draining"].append(p.name)
                continue
            found = self.indexes[p.name].lowest_free(family, self.now, self.cooldown)
            if found is None:
                seen["full"].append(p.name)
                continue
            return Assignment(family, p.name, found)
        if seen["full"]:
            return self.refuse("pool_exhausted",
                               f"no free {which} address in {_names(seen['full'])}")
        if seen["draining"]:
            verb = "is" if len(seen["draining"]) == 1 else "are"
            return self.refuse("pool_draining", f"{_names(seen['draining'])} {verb} draining")
        if seen["mismatch"]:
            return self.refuse("selector_mismatch",
                               f"the selectors of {_names(seen['mismatch'])} do not match"
                               " the service or its namespace")
        if self.req.pool is not None:
            return self.refuse("no_pool", f"pool {address.quote(self.req.pool)} has no"
                               f" {which} addresses")
        return self.refuse("no_pool", f"no pool hands out {which} addresses automatically"
                           f" to member {address.quote(self.req.member)}")


def _names(names: list[str]) -> str:
    quoted = ", ".join(address.quote(n) for n in names)
    return f"pool {quoted}" if len(names) == 1 else f"pools {quoted}"
