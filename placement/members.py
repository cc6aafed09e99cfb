"""Member choice: which members a preference group selects, their health, spread limits.

Pure: members come in as :class:`MemberInfo` values (the controller fills them from its
config, the members' labels and the damped health probe); nothing here reads a clock,
``now`` is an argument.  Not the topology model (site, nearest tier: placement.topology)
and not the division of replicas (placement.division).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence

from placement import labels

READY, TOLERATED, FAILED = "Ready", "Tolerated", "Failed"
SPREAD_FIELDS = ("region", "zone")


@dataclasses.dataclass(frozen=True)
class MemberInfo:
    """What placement needs to know about one member cluster."""

    name: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    region: str = ""
    zone: str = ""
    ready: bool = True
    # Since when the member has been NotReady (seconds, the caller's clock; the caller
    # says whose sighting counts); None while ready.  A NotReady member with no time is
    # taken as failed: nobody knows how long.
    not_ready_since: float | None = None


@dataclasses.dataclass(frozen=True)
class MemberGroup:
    """One preference group: every condition given must hold (AND); none given = all."""

    name: str
    names: tuple[str, ...] = ()
    selector: labels.Selector | None = None
    regions: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def selects(self, member: MemberInfo) -> bool:
        if self.names and member.name not in self.names:
            return False
        if member.name in self.exclude:
            return False
        if self.regions and member.region not in self.regions:
            return False
        if self.zones and member.zone not in self.zones:
            return False
        return self.selector is None or labels.matches(self.selector, member.labels)


@dataclasses.dataclass(frozen=True)
class Spread:
    """At least ``min_groups`` and at most ``max_groups`` distinct regions (or zones)."""

    by: str  # "region" or "zone"
    min_groups: int = 1
    max_groups: int | None = None


def health(member: MemberInfo, now: float, toleration: float) -> str:
    """READY; TOLERATED (NotReady for less than ``toleration`` s: keeps what it has, gets
    nothing new); or FAILED (its replicas are re-divided over the others)."""
    if member.ready:
        return READY
    if member.not_ready_since is not None and now - member.not_ready_since < toleration:
        return TOLERATED
    return FAILED


def stable_hash(key: str, *parts: str) -> int:
    """A hash of the object key and names that is the same in every process and release
    (Python's ``hash`` of a str is salted per process)."""
    digest = hashlib.sha256("\x00".join((key, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _field(member: MemberInfo, by: str) -> str:
    return member.region if by == "region" else member.zone


def spread(candidates: Sequence[MemberInfo], constraints: Iterable[Spread], key: str,
           held: Mapping[str, int]) -> tuple[list[MemberInfo], str]:
    """Members left after the spread constraints, and "" or why they cannot be met.

    Under a constraint, members without a value for its field do not count and are left
    out.  Past ``max_groups``, the groups kept are those holding the most replicas now
    (so nothing moves needlessly), then those with the most members, then by a stable
    hash of the object and the group's value.
    """
    chosen = list(candidates)
    for rule in constraints:
        groups: dict[str, list[MemberInfo]] = {}
        for member in chosen:
            value = _field(member, rule.by)
            if value:
                groups.setdefault(value, []).append(member)
        if len(groups) < rule.min_groups:
            return [], (f"needs at least {rule.min_groups} {rule.by}s, has {len(groups)}"
                        + (f" ({', '.join(sorted(groups))})" if groups else ""))
        keep = sorted(groups, key=lambda v: (-sum(held.get(m.name, 0) for m in groups[v]),
                                             -len(groups[v]), stable_hash(key, rule.by, v)))
        if rule.max_groups is not None:
            keep = keep[:rule.max_groups]
        kept = set(keep)
        chosen = [m for m in chosen if _field(m, rule.by) in kept]
    return chosen, ""


def choose(groups: Sequence[MemberGroup], constraints: Sequence[Spread],
           members: Sequence[MemberInfo], states: Mapping[str, str], key: str,
           held: Mapping[str, int], prefer: str = "") -> tuple[MemberGroup | None,
                                                                list[MemberInfo], str]:
    """The preference group to use and its members (failed ones left out), or None and
    why no group fits.  A group fits when it selects at least one member that has not
    failed and the spread minimums hold.  The first group that fits wins, except that
    ``prefer`` (the group used last time) is kept while it still fits."""
    why: list[str] = []
    fitting: list[tuple[MemberGroup, list[MemberInfo]]] = []
    for group in groups:
        selected = [m for m in members if group.selects(m)]
        alive = [m for m in selected if states[m.name] != FAILED]
        if not alive:
            failed = len(selected) - len(alive)
            why.append(f"group {group.name}: selects no member"
                       + (f" that has not failed ({failed} failed)" if failed else ""))
            continue
        chosen, problem = spread(alive, constraints, key, held)
        if problem:
            why.append(f"group {group.name}: {problem}")
            continue
        fitting.append((group, chosen))
        if not prefer:
            break
    for group, chosen in fitting:
        if group.name == prefer:
            return group, chosen, ""
    if fitting:
        return fitting[0][0], fitting[0][1], ""
    return None, [], "; ".join(why) or "the policy has no member group"
