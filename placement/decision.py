"""One placement decision: which members get an object, how many replicas each, failover.

``decide(policy, fleet, key, replicas, now, previous)`` is pure and level-triggered: it
takes the whole current picture (the members and their health, the previous decision,
optionally each member's capacity for this object) and returns the next
:class:`Decision`.  The caller stores the decision (``to_dict``) and passes it back as
``previous`` next time; nothing else is remembered.  ``now`` is an argument, never read
from a clock.

- Sticky: replicas stay where they run.  A change of the total divides only the
  difference (placement.division); a full re-division happens only on an explicit
  ``rebalance``, with ``division.rebalance`` (v1), or on recovery with
  ``failover.rebalanceOnRecovery``.  The preference group used last time is kept while it
  still fits.
- Failover: a member NotReady for less than ``failover.tolerationSeconds`` keeps what it
  runs and gets nothing new; past that it has failed and its replicas are divided over
  the others.  Its old copy is never dropped: it moves to ``withdrawing``.
- Nothing is evicted into the void: replicas the other members cannot take stay on the
  failed member, and when no group fits at all the previous decision stands; either
  way ``reason`` says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from fedns import errors
from placement import division, members, policy


class RecordInvalid(errors.PermanentError):
    """The stored placement decision cannot be read."""


@dataclasses.dataclass(frozen=True)
class Decision:
    group: str = ""  # the preference group used; "" when none ever fitted
    members: tuple[str, ...] = ()  # the members that get a copy, sorted
    # member -> replicas of its copy; empty for objects without a replica count
    replicas: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # copies that are no longer wanted, with the replicas they ran: withdraw each only
    # once every copy in ``members`` is ready and the member is reachable again
    withdrawing: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # members that failed and whose replicas were moved away (for rebalanceOnRecovery)
    failed_over: tuple[str, ...] = ()
    unplaced: int = 0  # replicas no member could take
    reason: str = ""  # "" when everything went as the policy asks; else why not


def capacity_from_pods(assigned: Mapping[str, int],
                       unschedulable: Mapping[str, int]) -> dict[str, int]:
    """Each member's capacity for an object whose Pods stay Pending as Unschedulable:
    what it was given minus what it cannot schedule (Federation v1's estimate).  Members
    with no unschedulable Pod are left out (no known limit)."""
    return {m: max(assigned.get(m, 0) - n, 0) for m, n in unschedulable.items() if n > 0}


def _order(key: str, names: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda m: (members.stable_hash(key, m), m))


def _carry_withdrawing(prev: Decision, known: set[str],
                       wanted: Sequence[str]) -> dict[str, int]:
    """Old copies still to withdraw: those pending before and every copy no longer
    wanted, unless wanted again (or the member left the fleet: nothing to reach)."""
    out = {m: n for m, n in prev.withdrawing.items() if m in known and m not in wanted}
    for m in prev.members:
        if m not in wanted and m in known:
            out[m] = max(out.get(m, 0), prev.replicas.get(m, 0))
    return out


def decide(pol: policy.Policy, fleet: Sequence[members.MemberInfo], key: str,
           replicas: int | None, now: float, previous: Decision | None = None,
           capacity: Mapping[str, int] | None = None, rebalance: bool = False) -> Decision:
    """The next decision for the object ``key`` (e.g. ``apps/v1/Deployment/ns/name``).

    ``replicas``: the template's count, or None for kinds without one (every chosen
    member gets a copy).  ``capacity``: member -> most replicas of this object it can
    run (see ``capacity_from_pods``).  ``rebalance``: re-divide from scratch once.
    """
    prev = previous or Decision()
    replicas = None if replicas is None else max(replicas, 0)
    capacity = capacity or {}
    states = {m.name: members.health(m, now, pol.failover.toleration_seconds) for m in fleet}
    known = set(states)
    recovered = [m for m in prev.failed_over if states.get(m) == members.READY]
    failed_over = [m for m in prev.failed_over if m in known and m not in recovered]
    if pol.division.rebalance or (recovered and pol.failover.rebalance_on_recovery):
        rebalance = True
    had = dict(prev.replicas) if prev.replicas else {m: 1 for m in prev.members}
    group, chosen, why = members.choose(pol.groups, pol.spread, fleet, states, key, had,
                                        "" if rebalance else prev.group)
    if group is None:
        return dataclasses.replace(prev, failed_over=tuple(sorted(failed_over)),
                                   reason=f"no member group fits, nothing moved: {why}")
    failed = {m for m in prev.members if states.get(m) == members.FAILED}
    reasons: list[str] = []
    if replicas is None or pol.division.mode == policy.DUPLICATED:
        # a NotReady member within its toleration keeps its copy but gets no new one
        copies = [m.name for m in chosen
                  if states[m.name] == members.READY or m.name in prev.members]
        if not copies:
            return dataclasses.replace(prev, failed_over=tuple(sorted(failed_over)),
                                       reason=f"no member of group {group.name} is ready, "
                                              "nothing moved")
        out = {m: replicas for m in copies} if replicas is not None else {}
        unplaced = 0
    else:
        shares = []
        for m in chosen:
            limit = capacity.get(m.name)
            if states[m.name] == members.TOLERATED:
                held_now = prev.replicas.get(m.name, 0)
                limit = held_now if limit is None else min(limit, held_now)
            shares.append(pol.division.share(m.name, limit))
        held = None if rebalance else {s.name: prev.replicas.get(s.name, 0) for s in shares}
        divided = division.divide(replicas, shares, key, held)
        out = {m: n for m, n in divided.items() if n > 0}
        unplaced = replicas - sum(out.values())
        for name in _order(key, [n for n in prev.replicas if n in failed]):
            # what the others cannot run stays where it was rather than nowhere
            keep = min(prev.replicas[name], unplaced)
            if keep > 0:
                out[name] = keep
                unplaced -= keep
                reasons.append(f"member {name} has failed but no other member can run {keep} "
                               f"of its {prev.replicas[name]} replicas: kept there")
        if unplaced > 0:
            room = division.capacity(shares, replicas)
            reasons.append(f"{unplaced} of {replicas} replicas fit nowhere: the members of "
                           f"group {group.name} can run {room} (maxReplicas, capacity, weight 0 "
                           "or NotReady)")
        copies = list(out)
    moved = [m for m in failed if prev.replicas.get(m, 1) > out.get(m, 0) or m not in out]
    failed_over = sorted(set(failed_over) | set(moved))
    new_members = tuple(sorted(copies))
    return Decision(group.name, new_members, out,
                    _carry_withdrawing(prev, known, new_members),
                    tuple(failed_over), unplaced, "; ".join(reasons))


def withdrawn(d: Decision, member: str) -> Decision:
    """``d`` once the old copy on ``member`` has been deleted."""
    rest = {m: n for m, n in d.withdrawing.items() if m != member}
    return dataclasses.replace(d, withdrawing=rest)


def to_dict(d: Decision) -> dict[str, Any]:
    """A JSON-ready mapping (for an annotation or a status field)."""
    return {"group": d.group, "members": list(d.members), "replicas": dict(d.replicas),
            "withdrawing": dict(d.withdrawing), "failedOver": list(d.failed_over),
            "unplaced": d.unplaced, "reason": d.reason}


def _counts(doc: Any, field: str) -> dict[str, int]:
    value = doc.get(field) or {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in value.items()):
        raise RecordInvalid(f"stored placement decision: {field} must map member names to "
                            f"non-negative integers, got {value!r}")
    return dict(value)


def _names(doc: Any, field: str) -> tuple[str, ...]:
    value = doc.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordInvalid(f"stored placement decision: {field} must be a list of member "
                            f"names, got {value!r}")
    return tuple(value)


def from_dict(doc: Any) -> Decision:
    """The inverse of ``to_dict``; RecordInvalid names the first bad field."""
    if not isinstance(doc, Mapping):
        raise RecordInvalid(f"stored placement decision must be a mapping, got {doc!r}")
    unplaced = doc.get("unplaced", 0)
    if isinstance(unplaced, bool) or not isinstance(unplaced, int) or unplaced < 0:
        raise RecordInvalid(f"stored placement decision: unplaced must be a non-negative "
                            f"integer, got {unplaced!r}")
    return Decision(str(doc.get("group", "")), _names(doc, "members"), _counts(doc, "replicas"),
                    _counts(doc, "withdrawing"), _names(doc, "failedOver"), unplaced,
                    str(doc.get("reason", "")))
