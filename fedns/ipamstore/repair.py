"""The repair pass: make the Store's allocations and the member clusters agree.

- An allocation whose owner Service no longer exists is released once it has been
  seen missing for ``grace`` seconds (a Service being re-created, or a member list
  that is briefly stale, does not lose its address).  Members the caller knows
  nothing about are left alone.
- An address found in a Service's ``status.loadBalancer.ingress`` but not in the
  Store (state from before fedns, or from a lost Store) is adopted when it is free
  and allowed for that Service; otherwise it is reported as a ``Conflict`` and
  counted in ``fedns_ipam_conflicts_total{kind="status"}`` — never renumbered here.

Called through ``manager.IPAM.repair``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Iterable, Mapping

from fedns.ipamstore.core import Core
from ipam import address, allocator, ledger, request
from ipam import errors as ipam_errors

# member -> live (namespace, service, uid); or owner -> alive? (None: unknown)
Existing = Mapping[str, Collection[tuple[str, str, str]]] | Callable[[ledger.Owner], bool | None]


@dataclasses.dataclass(frozen=True)
class Conflict:
    """A status address that could not be adopted; ``reason`` is an allocator
    refusal reason, ``status_mismatch`` (the Store gives the Service another
    address) or ``invalid_address``."""

    owner: ledger.Owner
    address: str
    reason: str
    message: str


@dataclasses.dataclass
class Report:
    released: list[ledger.Allocation] = dataclasses.field(default_factory=list)
    waiting: list[ledger.Allocation] = dataclasses.field(default_factory=list)
    adopted: list[ledger.Allocation] = dataclasses.field(default_factory=list)
    conflicts: list[Conflict] = dataclasses.field(default_factory=list)


def liveness(existing: Existing) -> Callable[[ledger.Owner], bool | None]:
    if callable(existing):
        return existing

    def alive(owner: ledger.Owner) -> bool | None:
        live = existing.get(owner[0])
        return None if live is None else owner[1:] in live

    return alive


async def repair(ipam: Core, existing: Existing,
                 statuses: Iterable[tuple[request.Request, Iterable[str]]] = (),
                 grace: float = 300.0, now: float | None = None) -> Report:
    ipam.check_started()
    now = time.monotonic() if now is None else now
    alive = liveness(existing)
    report = Report()
    owners: dict[tuple[str, str], ledger.Owner] = {}
    for (member, oid, _), entry in list(ipam.state.owners.items()):
        record = entry.value
        owners[(member, oid)] = (member, record.namespace, record.service, record.uid)
    for slot, owner in sorted(owners.items()):
        verdict = alive(owner)
        if verdict is None or verdict:
            ipam.missing.pop(slot, None)
            continue
        since = ipam.missing.setdefault(slot, now)
        if now - since >= grace:
            async with ipam.hold_service(owner[:3]):
                report.released += await ipam.release_owner(*slot)
            ipam.missing.pop(slot, None)
        else:
            site = ipam.state.site_of(owner[0])
            report.waiting += ipam.state.ledger_of(site).owned(owner).values()
    for slot in [s for s in ipam.missing if s not in owners]:
        del ipam.missing[slot]
    for req, texts in statuses:
        await _adopt(ipam, req, list(texts), report)
    return report


async def _adopt(ipam: Core, req: request.Request, texts: list[str], report: Report) -> None:
    site = ipam.state.site_of(req.member)
    held = ipam.state.ledger_of(site).owned(req.owner)
    wanted: dict[int, address.Address] = {}
    for text in texts:
        try:
            family, value = address.parse_address(text)
        except ipam_errors.AddressInvalid as err:
            _conflict(ipam, report, req, str(text), 0, "invalid_address", str(err))
            continue
        addr = address.to_address(family, value)
        if family in held:
            if held[family].address != addr:
                _conflict(ipam, report, req, str(addr), family, "status_mismatch",
                          f"{req.describe()}: its status shows {addr} but the Store gives"
                          f" it {held[family].address}")
            continue
        wanted[family] = addr
    if not wanted:
        return
    asked = [str(a.address) for a in held.values()] + [str(a) for a in wanted.values()]
    try:
        adopt = dataclasses.replace(req, requested_ips=tuple(asked))
    except ipam_errors.RequestInvalid as err:
        for family, addr in wanted.items():
            _conflict(ipam, report, req, str(addr), family, "requested_ip_outside_pools",
                      str(err))
        return
    outcome = await ipam.ensure(adopt)
    if isinstance(outcome, allocator.Refusal):
        for family, addr in wanted.items():
            _conflict(ipam, report, req, str(addr), family, outcome.reason, outcome.message)
        return
    for a in outcome.assignments:
        if wanted.get(a.family) == a.address:
            report.adopted.append(ledger.Allocation(
                req.member, req.namespace, req.service, req.uid, a.pool, a.address,
                req.sharing_key, req.ports))


def _conflict(ipam: Core, report: Report, req: request.Request, text: str, family: int,
              reason: str, message: str) -> None:
    site = ipam.state.site_of(req.member)
    pool_name = ""
    if family:
        value = address.parse_address(text)[1]
        pool_name = next((p.name for p in ipam.state.site_pools(site)
                          if p.covers(family, value)), "")
    ipam.metrics.conflicts.labels(site, pool_name, address.FAMILY_NAMES.get(family, ""),
                                  "status").inc()
    report.conflicts.append(Conflict(req.owner, text, reason, message))
