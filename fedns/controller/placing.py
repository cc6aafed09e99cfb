"""Placement for the propagation controller: which members get a template's copies,
how many replicas each, and when an old copy may go.

:class:`Placer` feeds the pure :mod:`placement` core and keeps nothing a restart
would need: the decision lives on the template (annotation ``fedns.io/placement``,
:func:`placement.decision.to_dict` JSON plus the ``source`` policy), the policies are
the stored ``Placement`` and ``ClusterPlacement`` objects (:mod:`fedns.placements`),
the members' labels their ``Member`` objects' ``metadata.labels`` (``kubectl label
member NAME k=v``), their region and zone the :class:`~fedns.controller.view.View`'s.
The one thing it remembers is since when each member has been NotReady (from the
damped health), the clock of ``failover.tolerationSeconds``.  That clock outlives a
restart or a new leader through the ``Member`` objects: for a member NotReady that this
process has probed but never seen Ready, ``not_ready_since`` is the earlier of its own
first sighting and the stored ``Ready=False`` condition's ``lastTransitionTime``
(written by the status controller, :mod:`fedns.controller.status`), converted from the
wall clock to the placer's by the distance back from now, and never later than now.
A member seen Ready by this process, or whose stored condition is not False, has only
the clock in memory.

- ``plan(key, template)``: the policy (``selection.policy_for``: Federation v1
  annotations, then Placements; none: every member, replicas divided evenly, other
  kinds copied everywhere), the fleet, each member's capacity from its Unschedulable
  Pods of the template, and ``decide`` with the stored decision as ``previous``.
  ``requeue_after`` is the time until the first tolerated member fails;
  ``recheck`` asks for another look in ``RECHECK`` s while a chosen copy is not ready.
- ``withdrawable(...)``: copies in ``Decision.withdrawing`` and copies on members no
  longer chosen may be deleted only once every chosen copy is ready and their member
  is Ready (the propagation controller deletes them and records ``withdrawn``).
- ``changed(key, value)``: whether a Placement, ClusterPlacement or Member write
  changed what placement reads; policies and labels are listed again only then.

Not for: applying copies (:mod:`fedns.controller.propagation`), the decision itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from fedns import kinds, placements
from fedns.controller import conditions
from fedns.kapi import status as kapi_status
from fedns.members import kinds as member_kinds
from placement import decision as decision_mod
from placement import errors as placement_errors
from placement import labels as labels_mod
from placement import members as members_mod
from placement import policy as policy_mod
from placement import selection
from propagate import divide, manifest
from propagate import status as propagate_status

log = logging.getLogger(__name__)

ANNOTATION = "fedns.io/placement"  # on templates: the last decision, with its source
DEFAULT_SOURCE = "default"
POD_SCAN = 1.0  # seconds a member's scan for Unschedulable Pods is reused
# seconds before a template whose chosen copies are not all ready is decided again:
# Pods turning Unschedulable raise no event the propagation controller follows
RECHECK = 5.0
Obj = dict[str, Any]
# no policy: today's even split over every member, re-divided from scratch each time
# (a member back from a failure, or a new one, gets its even share again); failover
# and the toleration hold as for any policy
DEFAULT_DIVIDED = policy_mod.Policy(division=policy_mod.Division(policy_mod.DIVIDED,
                                                                 rebalance=True))
DEFAULT_DUPLICATED = policy_mod.Policy()
# no policy, a Job: its completions divided evenly once and then sticky (a member that
# joins or comes back gets none), since a member refuses a change of its copy's
# spec.completions (immutable in kube); failover still moves a failed member's share
DEFAULT_JOB = policy_mod.Policy(division=policy_mod.Division(policy_mod.DIVIDED))


class BadCount(divide.BadReplicas):
    """A divided spec field of the template is not a non-negative integer."""

    def __init__(self, field: str, total: object) -> None:
        super().__init__(f"spec.{field}: must be a non-negative integer, got {total!r}", total)
        self.field = field


@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``plan`` decided for one template."""

    decision: decision_mod.Decision
    source: str  # "placement/NS/NAME", "federation-v1-annotations" or "default"
    shares: Mapping[str, Mapping[str, int]]  # member -> divided spec field -> count
    previous: decision_mod.Decision | None
    requeue_after: float = 0.0  # seconds until a tolerated member counts as failed

    @property
    def record(self) -> str:
        """The annotation's value: compact JSON, keys sorted (one text per decision)."""
        return json.dumps({**decision_mod.to_dict(self.decision), "source": self.source},
                          sort_keys=True, separators=(",", ":"))


def stored(template: Obj) -> tuple[decision_mod.Decision | None, str]:
    """The decision recorded on ``template`` and its source; (None, "") when there is
    none or it cannot be read (then the next decision starts afresh)."""
    text = manifest.notes_of(template).get(ANNOTATION)
    if not text:
        return None, ""
    try:
        doc = json.loads(text)
        return decision_mod.from_dict(doc), str(doc.get("source", ""))
    except (ValueError, decision_mod.RecordInvalid) as err:
        log.warning("%s: %s; deciding afresh", ANNOTATION, err)
        return None, ""


def describe(d: decision_mod.Decision) -> str:
    """``a=4,b=2`` (``a,b`` for kinds without replicas); ``none`` when nobody."""
    if not d.members:
        return "none"
    if d.replicas:
        return ",".join(f"{m}={d.replicas.get(m, 0)}" for m in d.members)
    return ",".join(d.members)


# the label of fedns_placement_decisions_total, and the reason of its Event
REASONS = {"placed": "Placed", "failover": "FailedOver", "constrained": "PlacementConstrained"}


def result(before: decision_mod.Decision | None, d: decision_mod.Decision) -> str:
    """``failover`` when a member newly failed over, ``constrained`` when the policy could
    not be met as asked (``reason``), else ``placed``."""
    if set(d.failed_over) - set(before.failed_over if before else ()):
        return "failover"
    return "constrained" if d.reason else "placed"


def message(plan: Plan) -> str:
    """An Event's message: ``placed a=4,b=2 by placement/shop/web``, and the reason."""
    text = f"placed {describe(plan.decision)} by {plan.source}"
    return f"{text}: {plan.decision.reason}" if plan.decision.reason else text


def _unschedulable(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Pending":
        return False
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False"
               and c.get("reason") == "Unschedulable" for c in status.get("conditions") or [])


def copy_ready(live: Obj | None, template: Obj, replicas: int | None) -> bool:
    """A member's copy can stand in for an old one: it carries the template's
    generation and, for kinds with replicas, runs ``replicas`` ready ones."""
    if live is None:
        return False
    kind = str(template.get("kind", ""))
    generation = (template.get("metadata") or {}).get("generation")
    if isinstance(generation, int) and not propagate_status.caught_up(
            live, generation, kind in propagate_status.GENERATIONAL):
        return False
    if replicas is None or kind not in manifest.REPLICATED_KINDS:
        return True  # a Job's copy counts once it exists: its Pods end by design
    ready = (live.get("status") or {}).get("readyReplicas") or 0
    return isinstance(ready, int) and ready >= replicas


class Placer:
    """Placement decisions for the propagation controller."""

    def __init__(self, storage: Any, members: Mapping[str, Any], view: Any = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.members = members
        self.view = view
        self.clock = clock
        self.wall = wall  # the clock of the stored conditions' times
        self.down_since: dict[str, float] = {}  # member -> first seen NotReady
        # members this process has seen Ready: their NotReady clock is its own sighting
        # of the flip, never an older stored time (a recovery it saw ended that)
        self.seen_ready: set[str] = set()
        reg = storage.registry
        self.policy_kinds = [k for k in placements.KINDS
                             if reg.lookup(k.group, k.version, k.plural) is not None]
        self.member_kind = reg.lookup(kinds.GROUP, kinds.VERSION, kinds.MEMBERS.plural)
        # the policies and member labels as last listed; a change of either (not a
        # status write: Members' change at every probe) empties the cache, and a listing
        # that raced with one is not kept (the generation moved on)
        self._generation = 0
        self._policies: list[policy_mod.Policy] | None = None
        self._labels: dict[str, dict[str, str]] | None = None
        # member -> since when (wall clock) its Member object says Ready=False, as listed
        # with the labels
        self._stored_down: dict[str, float] = {}
        self._seen: dict[bytes, str] = {}  # Store key -> the part placement reads
        # member -> (when scanned, its Unschedulable Pods)
        self._stuck: dict[str, tuple[float, list[tuple[str, Mapping[str, str]]]]] = {}

    def changed(self, key: bytes, value: bytes | None) -> bool:
        """Whether a Placement, ClusterPlacement or Member write changed what placement
        reads (a policy's spec, a member's labels); if so the cache is dropped."""
        part = ""
        if value is not None:
            try:
                obj = json.loads(value)
                part = json.dumps([obj.get("spec"), (obj.get("metadata") or {}).get("labels")]
                                  if obj.get("kind") != kinds.MEMBERS.kind
                                  else (obj.get("metadata") or {}).get("labels"),
                                  sort_keys=True)
            except ValueError:
                part = "?"
        if value is None:
            self._seen.pop(key, None)
        elif self._seen.get(key) == part:
            return False
        else:
            self._seen[key] = part
        self.forget()
        return True

    def forget(self) -> None:
        """List policies and labels afresh next time."""
        self._generation += 1
        self._policies = self._labels = None

    # -- the picture -------------------------------------------------------------

    def observe(self) -> None:
        """Start (or stop) each member's NotReady clock from its damped health."""
        now = self.clock()
        for name, m in self.members.items():
            if m.ready:
                self.down_since.pop(name, None)
                self.seen_ready.add(name)
            else:
                self.down_since.setdefault(name, now)

    async def _listed(self, kind: Any) -> list[Obj]:
        try:
            return list((await self.storage.list(kind, "")).items)
        except kapi_status.ApiError as err:
            log.warning("placement: %s not listed: %s", kind.plural, err)
            return []

    async def policies(self) -> list[policy_mod.Policy]:
        if self._policies is not None:
            return self._policies
        generation = self._generation
        found = []
        for kind in self.policy_kinds:
            found += placements.policies(await self._listed(kind))
        if generation == self._generation:
            self._policies = found
        return found

    async def labels(self) -> dict[str, dict[str, str]]:
        if self._labels is not None:
            return self._labels
        if self.member_kind is None:
            return {}
        generation = self._generation
        listed = await self._listed(self.member_kind)
        found = {str(o["metadata"]["name"]): dict(o["metadata"].get("labels") or {})
                 for o in listed}
        if generation == self._generation:
            self._labels = found
            self._stored_down = {str(o["metadata"]["name"]): since for o in listed
                                 if (since := conditions.false_since(o)) is not None}
        return found

    def _restored(self, name: str) -> float | None:
        """Since when (the placer's clock) the stored Ready condition says ``name`` has
        been NotReady, for a member this process has probed and never seen Ready (a
        probe pending: it may be back; seen Ready: this process's clock knows better)."""
        if name in self.seen_ready:
            return None
        # members without a probe count (in-memory stand-ins): nothing to wait for
        if getattr(getattr(self.members[name], "probe", None), "probes", 1) == 0:
            return None
        since = self._stored_down.get(name)
        if since is None:
            return None
        return conditions.to_clock(since, self.wall(), self.clock())

    def _where(self, name: str) -> tuple[str, str]:
        if self.view is None:
            return "", ""
        try:
            topo = self.view.topology(name)
        except Exception as err:  # noqa: BLE001 - an unplaced member has no region
            log.debug("placement: topology of %s: %s", name, err)
            return "", ""
        return (topo.region, topo.zone) if topo is not None else ("", "")

    async def fleet(self) -> list[members_mod.MemberInfo]:
        self.observe()
        labels = await self.labels()
        out = []
        for name in sorted(self.members):
            region, zone = self._where(name)
            ready = bool(self.members[name].ready)
            since = self.down_since.get(name)
            if not ready and (stored := self._restored(name)) is not None:
                since = stored if since is None else min(since, stored)
            out.append(members_mod.MemberInfo(
                name, labels.get(name, {}), region, zone, ready, since))
        return out

    def capacity(self, template: Obj, previous: decision_mod.Decision | None
                 ) -> dict[str, int]:
        """Members whose Pods of ``template`` stay Unschedulable: what they can run."""
        if previous is None or not previous.replicas:
            return {}
        selector = ((template.get("spec") or {}).get("selector") or {})
        namespace = str((template.get("metadata") or {}).get("namespace") or "")
        problems = placement_errors.Problems()
        parsed = labels_mod.from_label_selector(selector, "spec.selector", problems)
        if problems.causes or not parsed:
            return {}  # an unreadable or empty selector would count every Pod
        stuck: dict[str, int] = {}
        for name in previous.replicas:
            for pod_namespace, pod_labels in self._unschedulable(name):
                if pod_namespace == namespace and labels_mod.matches(parsed, pod_labels):
                    stuck[name] = stuck.get(name, 0) + 1
        return decision_mod.capacity_from_pods(previous.replicas, stuck)

    def _unschedulable(self, member: str) -> list[tuple[str, Mapping[str, str]]]:
        """(namespace, labels) of the member's Unschedulable Pods: one scan of its Pod
        cache per ``POD_SCAN`` seconds, not one per template."""
        now = self.clock()
        known = self._stuck.get(member)
        if known is not None and now - known[0] < POD_SCAN:
            return known[1]
        m = self.members.get(member)
        inf = (getattr(m, "informers", None) or {}).get(member_kinds.POD.kind)
        found = []
        for pod in list(inf.cache.values()) if inf is not None else ():
            if _unschedulable(pod):
                meta = pod.get("metadata") or {}
                found.append((str(meta.get("namespace") or ""), meta.get("labels") or {}))
        self._stuck[member] = (now, found)
        return found

    # -- deciding ----------------------------------------------------------------

    async def plan(self, key: tuple[str, str, str], template: Obj) -> Plan:
        """The decision for ``template``; raises divide.BadReplicas for a bad count and
        PolicyInvalid for bad Federation v1 annotations."""
        totals = manifest.totals(template)
        for field, total in totals.items():
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise BadCount(field, total)
        divided = manifest.placed(template)
        replicas = totals.get(divided) if divided is not None else None
        pol, source = selection.policy_for(template, await self.policies())
        if pol is None:
            pol = DEFAULT_DUPLICATED if replicas is None else \
                DEFAULT_JOB if template.get("kind") == "Job" else DEFAULT_DIVIDED
            source = DEFAULT_SOURCE
        previous, _ = stored(template)
        fleet = await self.fleet()
        now = self.clock()
        name = "/".join(key)
        d = decision_mod.decide(pol, fleet, name, replicas, now, previous,
                                self.capacity(template, previous))
        shares = manifest.shares(template, d.replicas, d.members, name)
        waits = [pol.failover.toleration_seconds - (now - m.not_ready_since)
                 for m in fleet if not m.ready and m.not_ready_since is not None
                 and now - m.not_ready_since < pol.failover.toleration_seconds]
        return Plan(d, source, shares, previous, max(min(waits), 0.01) if waits else 0.0)

    def recheck(self, plan: Plan, template: Obj, copy_of: Callable[[str], Obj | None]
                ) -> float:
        """Seconds before deciding again for capacity (0: not needed): while some chosen
        copy of a divided kind does not run its replicas ready."""
        d = plan.decision
        if not d.replicas:
            return 0.0
        waiting = any(not copy_ready(copy_of(m), template, d.replicas.get(m))
                      for m in d.members if m in self.members and self.members[m].ready)
        return RECHECK if waiting else 0.0

    def withdrawable(self, plan: Plan, template: Obj,
                     copy_of: Callable[[str], Obj | None]) -> tuple[list[str], str]:
        """The members whose old copy may be deleted now, and why the others wait."""
        d = plan.decision
        old = set(d.withdrawing) | {m for m in self.members
                                    if m not in d.members and copy_of(m) is not None}
        if not old:
            return [], ""
        not_ready = [m for m in d.members if m in self.members
                     and not copy_ready(copy_of(m), template, d.replicas.get(m) if d.replicas
                                        else None)]
        if not_ready:
            return [], f"waits for the copies in {', '.join(not_ready)} to be ready"
        ready = [m for m in sorted(old) if m in self.members and self.members[m].ready]
        return ready, "" if len(ready) == len(old) else "waits for the member to be reachable"
