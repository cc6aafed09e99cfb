"""The propagation controller: templates posted at the federation endpoint, copied to
every member, and their members' status summed back onto them.

Keys are ``(group/kind, namespace, name)`` (``("apps/Deployment", "team", "web")``,
``("Namespace", "", "team")``).  A reconcile takes the template as the Store's watch
and its own writes last showed it (read from the Store only when it has not seen
it), decides which members get a copy and how many replicas each
(:mod:`fedns.controller.placing`: a Placement, ClusterPlacement or Federation v1's
annotations, else every member with replicas divided evenly, a Job's completions too:
:mod:`propagate.jobs`; the decision and the finalizer are recorded on the template
first, in one write), and for each member chosen:

- a member that is not Ready is left alone: its outcome is ``Unreachable`` and its
  health event brings the key back when it answers;
- an object of the same name that fedns did not create is not overwritten
  (``Conflict``) unless the template has the annotation ``fedns.io/adopt: "true"``;
- an object whose namespace the member lacks waits for it (``Waiting``);
- otherwise the manifest (:func:`propagate.manifest.build`) is applied with
  server-side apply, only when its hash differs from the member's copy.  The
  member's watch holds every object of the kinds of :data:`FOLLOWED_IN_FULL` (so a
  new copy is one request) and fedns's copies of the others (a new one is read
  first); an applied copy stands in for the watch's until the watch has it.

A copy on a member no longer chosen is deleted once the chosen copies are ready and
its member is reachable (reported ``Deleting`` until then).

The outcome per member goes on the template as the annotation ``fedns.io/members``
(compact JSON) and, when members' states change, as Events at the endpoint (one per
state and message, written without holding up the reconcile).  Under a burst, keys
of templates written at the endpoint go before the status-driven ones (four to one).  The
template's status is the sum of its copies' (:mod:`propagate.status`), written
through the status subresource.  The template carries the finalizer
``fedns.io/propagation``: deleting it deletes the copies in every member first
(a member that cannot be reached keeps the template Terminating until it answers);
``fedns.io/orphan: "true"`` leaves them, marked ``fedns.io/orphaned``.  A copy whose
template is gone (a deleted Namespace, which finalizers do not hold) is deleted.
Helm's release Secrets, Events and the system namespaces stay at the endpoint.  Each
Deployment template gets the endpoint ReplicaSet Helm 3's ``--wait`` reads
(:mod:`fedns.controller.endpointrs`), kept here and never propagated.

Not for: what a manifest looks like (``propagate``), member access (``fedns.members``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fedns import errors, templates
from fedns import kinds as fedns_kinds
from fedns.controller import endpointrs, placing, runtime
from fedns.kapi import objects as kapi_objects
from fedns.kapi import registry
from fedns.kapi import status as kapi_status
from fedns.members import kinds as member_kinds
from fedns.members import member as member_mod
from fedns.members import objects
from placement import decision as decision_mod
from placement import errors as placement_errors
from propagate import manifest, order, outcome, override, replicasets
from propagate import status as propagate_status

log = logging.getLogger(__name__)

FINALIZER = "fedns.io/propagation"
Key = tuple[str, str, str]
WAIT = 2.0  # seconds before an object waiting for its namespace is looked at again
SYNC_TIMEOUT = 10.0  # seconds to wait for newly followed caches of Ready members
# seconds an applied copy stands in for the member's cache until the cache has it
# (client-go's MutationCache: a burst must not apply the same copy again)
RECENT_TTL = 30.0
# member kinds followed in full, not only fedns's copies: the watch then says whether
# a name is free, and a new copy costs one request, not a read and a write (Secrets,
# ConfigMaps, ReplicaSets and Jobs are many or large in a member: read when needed)
FOLLOWED_IN_FULL = frozenset({*member_mod.KINDS, "Deployment", "StatefulSet", "DaemonSet",
                              "HorizontalPodAutoscaler", "Ingress"})
REASONS = {outcome.APPLIED: "Propagated", outcome.CONFLICT: "PropagationConflict",
           outcome.UNREACHABLE: "MemberUnreachable", outcome.WAITING: "PropagationWaiting",
           outcome.ERROR: "PropagationFailed", outcome.DELETING: "DeletingCopies"}


class Busy(errors.TemporaryError):
    """The template changed while it was being written; looked at again at once."""


class PropagationController(runtime.Controller):
    """Copies the endpoint's templates to the members and reports back."""

    name = "propagation"
    # a reconcile is a chain of round trips (etcd, members), not CPU: many at once keep
    # a burst of templates from queueing behind each other (measured: bench.propagation)
    workers = 128

    def __init__(self, storage: Any, members: Mapping[str, member_mod.Member],
                 kinds: Mapping[registry.Kind, member_kinds.Resource],
                 placer: placing.Placer | None = None, metrics: Any = None) -> None:
        super().__init__()
        self.storage = storage
        self.members = members
        self.placer = placer or placing.Placer(storage, members)
        self.metrics = metrics  # ControllerMetrics: the placement counters
        self.by_gk = {templates.group_kind(k): (k, r) for k, r in kinds.items()}
        self.by_member_kind = {r.kind: gk for gk, (_, r) in self.by_gk.items()}
        self.by_prefix = {storage.collection_key(k): gk for gk, (k, _) in self.by_gk.items()}
        # a Placement or a member's labels changed: every template is decided again
        self.policy_prefixes = {storage.collection_key(k) for k in
                                [*self.placer.policy_kinds, self.placer.member_kind] if k}
        # Overrides and the members' labels (Member objects), followed in the Store
        self.overrides_prefix = storage.collection_key(fedns_kinds.OVERRIDES)
        self.members_prefix = storage.collection_key(fedns_kinds.MEMBERS)
        prefixes = {*self.by_prefix, *self.policy_prefixes, self.overrides_prefix,
                    self.members_prefix}
        self.watches = runtime.Watches(kinds=frozenset(self.by_member_kind), health=True,
                                       prefixes=tuple(sorted(prefixes)))
        self.caches: dict[tuple[str, str], Any] = {}  # (member, Kind) -> informer
        self.known: set[Key] = set()  # template keys seen in the Store
        # the templates as the Store's watch and this controller's own writes last saw
        # them: (revision, object or None once deleted); a reconcile reads no Store
        self.templates: dict[Key, tuple[int, dict[str, Any] | None]] = {}
        # (member, Kind, namespace/name) -> (until, the copy as its apply returned it)
        self.recent: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
        self.reporting: set[asyncio.Task[None]] = set()  # Events being written
        # (member, key) -> (what it was built from, the manifest): see _place
        self.built: dict[tuple[str, Key], tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.overrides: dict[bytes, override.Override] = {}
        self.member_labels: dict[str, dict[str, str]] = {}
        self.replica_sets = endpointrs.EndpointReplicaSets(storage, members)

    # -- events ------------------------------------------------------------------

    def _store_key(self, prefix: bytes, key: bytes) -> Key | None:
        gk = self.by_prefix.get(prefix)
        if gk is None:
            return None
        namespace, _, name = key[len(prefix):].decode().rpartition("/")
        return (gk, namespace, name)

    def _selected(self, found: override.Override) -> list[Key]:
        gk = f"{found.api_version.rpartition('/')[0]}/{found.kind}".lstrip("/")
        return [k for k in self.known if k[0] == gk and k[1] == found.namespace
                and (not found.target or k[2] == found.target)]

    def _override_changed(self, event: runtime.StoreEvent) -> list[Key]:
        """Remember the Override (or its deletion); the templates it selects, before
        or after, are looked at again."""
        before = self.overrides.pop(event.key, None)
        if event.value is not None:
            try:
                self.overrides[event.key] = override.parse(json.loads(event.value))
            except (ValueError, override.OverrideInvalid) as err:
                log.warning("override %s: %s", event.key.decode(), err)
        touched = [o for o in (before, self.overrides.get(event.key)) if o is not None]
        return sorted({k for o in touched for k in self._selected(o)})

    def _labels_changed(self, event: runtime.StoreEvent) -> list[Key]:
        """A Member object's labels (what memberSelector rules match) changed."""
        name = event.key[len(self.members_prefix):].decode()
        labels: dict[str, str] = {}
        if event.value is not None:
            with contextlib.suppress(ValueError, AttributeError):
                labels = dict((json.loads(event.value).get("metadata") or {})
                              .get("labels") or {})
        if self.member_labels.get(name) == labels:
            return []
        self.member_labels[name] = labels
        return sorted({k for o in self.overrides.values() for k in self._selected(o)})

    def _saw(self, key: Key, event: runtime.StoreEvent) -> bool:
        """Remember the template ``event`` carries; False when it needs no look: not
        newer than what this controller wrote itself, or one that stays at the
        endpoint (Helm's releases, the endpoint's ReplicaSets: not kept here)."""
        have = self.templates.get(key)
        if have is not None and have[0] >= event.revision:
            return False
        obj = None
        if event.value is not None:
            try:
                obj = self.storage.decode(self.by_gk[key[0]][0], event.value, event.revision)
            except ValueError:
                self.templates.pop(key, None)  # the reconcile reads it and says what is wrong
                return True
        if key[0] == endpointrs.RS_GROUP_KIND:  # the endpoint's own ReplicaSets among them
            self.replica_sets.saw(key[1], key[2], event.revision, obj)
        if obj is None:
            self.templates[key] = (event.revision, None)
            return True
        if not manifest.propagated(obj):
            self.templates.pop(key, None)
            return False
        self.templates[key] = (event.revision, obj)
        return True

    def urgent(self, event: runtime.Event) -> bool:
        """A template written at the endpoint goes before the copies' status changes:
        under a burst, copies exist first and status follows."""
        return isinstance(event, runtime.StoreEvent) and event.prefix in self.by_prefix

    def map(self, event: runtime.Event) -> Iterable[Key]:
        if isinstance(event, runtime.StoreEvent):
            if event.prefix == self.overrides_prefix:
                return self._override_changed(event)
            if event.prefix == self.members_prefix or event.prefix in self.policy_prefixes:
                dirty: set[Key] = set()
                if event.prefix == self.members_prefix:  # labels Overrides select on
                    dirty.update(self._labels_changed(event))
                if event.prefix in self.policy_prefixes and \
                        self.placer.changed(event.key, event.value):
                    dirty.update(self.known)
                return dirty
            key = self._store_key(event.prefix, event.key)
            if key is None or not self._saw(key, event):
                return ()
            self.known.add(key)
            return [key]
        if isinstance(event, runtime.HealthEvent):
            self.placer.observe()  # the toleration counts from the health change
            return self._member_keys(event.member) | self.known
        if not isinstance(event, runtime.MemberEvent):
            return ()
        owner = endpointrs.EndpointReplicaSets.owner(event.kind, event.key, event.obj, event.old)
        if owner is not None:  # a member's Deployment made it: a copy's, its template's
            self.replica_sets.observe(event.member, event.key, event.obj, event.old)
            live = self._cached(event.member, "Deployment", owner[1], owner[2])
            return [owner] if manifest.is_copy(live) else []
        gk = self.by_member_kind.get(event.kind)
        if gk is None:
            return ()
        namespace, _, name = event.key.rpartition("/")
        key = (gk, namespace, name)
        if event.obj is None:  # gone from the member: no applied copy stands in for it
            self.recent.pop((event.member, event.kind, event.key), None)
        found = []
        if key in self.known or manifest.is_copy(event.obj) or manifest.is_copy(event.old):
            found.append(key)
        if event.kind == "Namespace" and event.obj is not None:
            # what waited for this namespace in that member can go now
            found += [k for k in self.known if k[1] == name]
        return found

    def relist(self) -> None:
        self.placer.forget()
        self.templates.clear()
        self.replica_sets.synced = False

    def _member_keys(self, member: str) -> set[Key]:
        found = set()
        for (m, kind), inf in self.caches.items():
            if m != member:
                continue
            for cache_key, obj in list(inf.cache.items()):
                if manifest.is_copy(obj):
                    namespace, _, name = cache_key.rpartition("/")
                    found.add((self.by_member_kind[kind], namespace, name))
        return found

    async def keys(self) -> list[Key]:
        found: set[Key] = set()
        for gk, (kind, _) in self.by_gk.items():
            listing = await self.storage.list(kind, "")
            if gk == endpointrs.RS_GROUP_KIND:
                self.replica_sets.listed([o for o in listing.items if replicasets.kept(o)],
                                         listing.revision)
            for obj in listing.items:
                meta = obj["metadata"]
                key = (gk, str(meta.get("namespace") or ""), str(meta["name"]))
                found.add(key)
                revision = int(meta.get("resourceVersion") or 0)
                have = self.templates.get(key)
                if manifest.propagated(obj) and (have is None or have[0] < revision):
                    self.templates[key] = (revision, obj)  # no read when it is reconciled
        self.known |= found
        for member in self.members:
            found |= self._member_keys(member)
        return order.sort_keys(found)

    async def setup(self) -> None:
        """Follow the members' Deployment-made ReplicaSets (:mod:`.endpointrs`) and every propagated kind in every member (once; a followed kind is kept):
        the kinds of :data:`FOLLOWED_IN_FULL` in full, the others only fedns's objects (a
        member's Secrets and ConfigMaps are none of fedns's business until one has the
        name of a template: then the apply's own read finds it and it is a Conflict)."""
        for name, m in self.members.items():
            for _, resource in self.by_gk.values():
                if (name, resource.kind) in self.caches:
                    continue
                selector = "" if resource.kind in FOLLOWED_IN_FULL else objects.MANAGED_SELECTOR
                self.caches[(name, resource.kind)] = await m.follow(
                    resource, label_selector=selector)
        await self.replica_sets.follow()
        deadline = time.monotonic() + SYNC_TIMEOUT
        for (name, _), inf in self.caches.items():
            if not self.members[name].ready:
                continue
            try:
                await asyncio.wait_for(inf.synced.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("propagation: caches of %s not synced; reconciling anyway", name)
                break

    # -- reading -----------------------------------------------------------------

    def _cached(self, member: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The member's object as its watch has it, or as this controller's apply
        returned it when the watch has not caught up yet."""
        inf = self.caches.get((member, kind))
        if inf is None:
            return None
        cache_key = f"{namespace}/{name}" if namespace else name
        found: dict[str, Any] | None = inf.cache.get(cache_key)
        mine = self.recent.get((member, kind, cache_key))
        if mine is None:
            return found
        until, applied = mine
        if time.monotonic() < until and not _caught_up(found, applied):
            return applied
        del self.recent[(member, kind, cache_key)]
        return found

    def _namespaces(self, member: str) -> list[str]:
        inf = self.caches.get((member, "Namespace"))
        return list(inf.cache) if inf is not None else []

    async def _template(self, key: Key) -> dict[str, Any] | None:
        """The template as last seen (never changed in place), else from the Store."""
        have = self.templates.get(key)
        if have is not None:
            return have[1]
        kind = self.by_gk[key[0]][0]
        try:
            found: dict[str, Any] = await self.storage.get(kind, key[1], key[2])
        except kapi_status.ApiError as err:
            if err.code != 404:
                raise
            return None
        return found

    async def _update(self, kind: registry.Kind, obj: dict[str, Any],
                      subresource: str = "") -> dict[str, Any]:
        meta = obj["metadata"]
        key = (templates.group_kind(kind), str(meta.get("namespace") or ""), str(meta["name"]))
        have = self.templates.get(key)
        try:
            # the template as last seen spares the write its read (a stale one is a 409)
            done: dict[str, Any] = await self.storage.update(
                kind, key[1], key[2], obj, subresource=subresource, owned=True,
                current=have[1] if have is not None else None)
        except kapi_status.ApiError as err:
            if err.code in (404, 409):
                raise Busy(f"{kind.kind} {meta['name']}: {err}", delay=0.05) from err
            raise
        if key in self.templates:  # followed: the watch's event of this write is no news
            revision = int((done.get("metadata") or {}).get("resourceVersion") or 0)
            if revision > self.templates[key][0]:
                self.templates[key] = (revision, done)
        return done

    # -- reconcile -------------------------------------------------------------

    async def reconcile(self, key: Any) -> runtime.Result:
        gk, namespace, name = key
        kind, resource = self.by_gk[gk]
        template = await self._template(key)
        if template is None:
            self.known.discard(key)
            for member in self.members:
                self.built.pop((member, key), None)
            pending, removed = await self._remove(key, resource, orphan=False)
            if gk == endpointrs.GROUP_KIND:
                removed += await self.replica_sets.remove_orphans(namespace, name)
            have = self.templates.get(key)
            if not pending and have is not None and have[1] is None:
                del self.templates[key]  # a tombstone no longer needed
            return runtime.Result(changed=removed)
        if not manifest.propagated(template):
            return runtime.Result()
        meta = template["metadata"]
        if meta.get("deletionTimestamp"):
            return await self._finalize(key, kind, resource, template)
        changed = 0
        try:
            plan = await self.placer.plan(key, template)
        except placing.BadCount as err:  # the template must change first: no retry
            bad = dict.fromkeys(sorted(self.members), outcome.Outcome(outcome.ERROR, str(err)))
            _, reported = await self._report(kind, template, bad)
            return runtime.Result(changed=changed + reported)
        except placement_errors.PolicyInvalid as err:  # bad Federation v1 annotations
            bad = dict.fromkeys(sorted(self.members), outcome.Outcome(outcome.ERROR, str(err)))
            _, reported = await self._report(kind, template, bad)
            return runtime.Result(changed=changed + reported)
        # the finalizer and the decision first, in one write, then copies: a copy never
        # outlives its template's record of it (a Namespace's delete does not wait for
        # finalizers; its copies go when it is gone)
        template, recorded = await self._record(kind, template, plan,
                                                finalize=kind.kind != "Namespace")
        changed += recorded
        # a member gone from the config may linger in a decision that could not change
        placed = [m for m in plan.decision.members if m in self.members]
        results = await asyncio.gather(*(
            self._place(m, key, resource, template, dict(plan.shares.get(m, {})))
            for m in placed))
        outcomes = {m: r[0] for m, r in zip(placed, results, strict=True)}
        changed += sum(r[1] for r in results)
        template, pending, withdrawn = await self._withdraw(kind, key, resource, template, plan)
        outcomes.update(pending)
        changed += withdrawn
        copies = {m: self._copy(m, key, resource) for m in placed}
        template, reported = await self._report(kind, template, outcomes)
        changed += reported
        changed += await self._write_status(kind, template, copies)
        if gk == endpointrs.GROUP_KIND:
            changed += await self.replica_sets.sync(template, copies)
        states = {o.state for o in outcomes.values()}
        retry = 0.0
        if outcome.WAITING in states:
            retry = WAIT
        errors_ = [r[2] for r in results if r[2] > 0]
        if errors_:
            retry = max(retry, min(errors_))
        again = [t for t in (plan.requeue_after, self.placer.recheck(
            plan, template, lambda m: self._copy(m, key, resource))) if t > 0]
        if again:  # a tolerated member fails then, or Pods may not fit: decide again
            retry = min(retry, *again) if retry else min(again)
        return runtime.Result(changed=changed, requeue_after=retry)

    async def _record(self, kind: registry.Kind, template: dict[str, Any],
                      plan: placing.Plan, finalize: bool = False
                      ) -> tuple[dict[str, Any], int]:
        """The decision on the template (before any copy follows it), with the
        finalizer when ``finalize``; an Event and the decision counter when it
        changed."""
        notes = manifest.notes_of(template)
        finalizers = list(template["metadata"].get("finalizers") or [])
        missing = finalize and FINALIZER not in finalizers
        if notes.get(placing.ANNOTATION) == plan.record and not missing:
            return template, 0
        fresh = copy.deepcopy(template)
        fresh["metadata"]["annotations"] = {**notes, placing.ANNOTATION: plan.record}
        if missing:
            fresh["metadata"]["finalizers"] = [*finalizers, FINALIZER]
        updated = await self._update(kind, fresh)
        d, before = plan.decision, plan.previous
        if before is None or (d.members, dict(d.replicas), d.reason) != (
                before.members, dict(before.replicas), before.reason):
            result = placing.result(before, d)
            if self.metrics is not None:
                self.metrics.placement_decisions.labels(result).inc()
            self._later(self._emit(kind, updated, placing.REASONS[result],
                                   placing.message(plan), warning=bool(d.reason)))
        return updated, 1

    async def _withdraw(self, kind: registry.Kind, key: Key, resource: member_kinds.Resource,
                        template: dict[str, Any], plan: placing.Plan
                        ) -> tuple[dict[str, Any], dict[str, outcome.Outcome], int]:
        """Delete the old copies the decision no longer wants, once their replacements
        are ready and their member is reachable; the rest are reported ``Deleting``."""
        _, namespace, name = key
        d = plan.decision
        now, why = self.placer.withdrawable(plan, template,
                                            lambda m: self._copy(m, key, resource))
        pending: dict[str, outcome.Outcome] = {}
        sent = 0
        for member in now:
            try:
                deleted = await self.members[member].delete(resource, namespace, name)
            except errors.TemporaryError as err:
                pending[member] = outcome.Outcome(outcome.ERROR, str(err))
                continue
            self.recent.pop((member, resource.kind, _cache_key(namespace, name)), None)
            d = decision_mod.withdrawn(d, member)
            if not deleted:  # gone already: nothing was evicted
                continue
            sent += 1
            if self.metrics is not None:
                self.metrics.placement_evictions.inc()
            self._later(self._emit(kind, template, "Withdrawn", f"member {member}: old copy "
                                   "deleted, its replicas run elsewhere"))
        for member in sorted(set(d.withdrawing) | {
                m for m in self.members if m not in d.members and m not in now
                and self._copy(m, key, resource) is not None}):
            if member not in pending:
                pending[member] = outcome.Outcome(outcome.DELETING,
                                                  f"no longer placed here; {why}")
        if d != plan.decision:
            template, _ = await self._record(kind, template, dataclasses.replace(
                plan, decision=d, previous=d))
        return template, pending, sent

    def _copy(self, member: str, key: Key, resource: member_kinds.Resource
              ) -> dict[str, Any] | None:
        live = self._cached(member, resource.kind, key[1], key[2])
        return live if manifest.is_copy(live) else None

    async def _place(self, member: str, key: Key, resource: member_kinds.Resource,
                     template: dict[str, Any], shares: dict[str, int]
                     ) -> tuple[outcome.Outcome, int, float]:
        """One member's copy: (outcome, writes, seconds before a retry or 0)."""
        _, namespace, name = key
        m = self.members[member]
        if not m.ready:
            return outcome.Outcome(outcome.UNREACHABLE, m.probe.last_error), 0, 0.0
        if resource.namespaced and order.waits_for_namespace(namespace, self._namespaces(member)):
            return outcome.Outcome(outcome.WAITING,
                                   f"namespace {namespace} is not in the member yet"), 0, 0.0
        operations = override.patches_for(self.overrides.values(), template, member,
                                          self.member_labels.get(member, {}))
        # a copy's status changes far more often than its template: build once per
        # template version, share and Overrides
        memo = (_version(template),
                tuple(sorted(shares.items())),
                json.dumps(operations, sort_keys=True) if operations else "")
        hit = self.built.get((member, key))
        if hit is not None and hit[0] == memo:
            body = hit[1]
        else:
            try:
                body = manifest.build(template, shares, operations)
            except override.OverrideFailed as err:  # the Override or the template must change
                return outcome.Outcome(outcome.ERROR, str(err)), 0, 0.0
            self.built[(member, key)] = (memo, body)
        live = self._cached(member, resource.kind, namespace, name)
        adopt = manifest.is_true(template, manifest.ADOPT)
        # the member's watch answers "is there an object fedns did not make?" when it
        # holds every object of the kind, or holds this one with fedns's label
        inf = self.caches.get((member, resource.kind))
        checked = manifest.is_managed(live) or (resource.kind in FOLLOWED_IN_FULL and
                                                inf is not None and inf.synced.is_set())
        if live is not None and not manifest.is_managed(live) and not adopt:
            return outcome.Outcome(outcome.CONFLICT, (
                f"{resource.describe(namespace, name)} exists without the label "
                f"{manifest.MANAGED_BY_LABEL}={manifest.MANAGED_BY}: not overwritten "
                f"(annotate the template {manifest.ADOPT}=true to take it over)")), 0, 0.0
        if not manifest.needs_update(body, live):
            return outcome.Outcome(outcome.APPLIED), 0, 0.0
        try:
            applied = await m.apply(body, resource=resource, adopt=adopt, checked=checked)
        except member_mod.NotManaged as err:
            # not in a filtered cache, so no event says when it goes: look again later
            return outcome.Outcome(outcome.CONFLICT, str(err)), 0, err.delay
        except errors.TemporaryError as err:
            return outcome.Outcome(outcome.ERROR, str(err)), 0, err.delay or 1.0
        if isinstance(applied, dict):
            self.recent[(member, resource.kind, _cache_key(namespace, name))] = (
                time.monotonic() + RECENT_TTL, applied)
        return outcome.Outcome(outcome.APPLIED), 1, 0.0

    async def _remove(self, key: Key, resource: member_kinds.Resource, *, orphan: bool
                      ) -> tuple[dict[str, outcome.Outcome], int]:
        """Delete (or with ``orphan`` mark as left behind) the copies of ``key``; the
        members still holding one that could not be reached or written, and the
        number of writes sent."""
        _, namespace, name = key
        pending: dict[str, outcome.Outcome] = {}
        sent = 0
        for member, m in self.members.items():
            live = self._copy(member, key, resource)
            if live is None or manifest.ORPHANED in manifest.notes_of(live):
                continue
            if not m.ready:
                pending[member] = outcome.Outcome(outcome.UNREACHABLE, m.probe.last_error)
                continue
            try:
                if orphan:
                    await m.apply(manifest.orphaned(live), resource=resource)
                    sent += 1
                elif await m.delete(resource, namespace, name):
                    sent += 1
                self.recent.pop((member, resource.kind, _cache_key(namespace, name)), None)
            except errors.TemporaryError as err:
                pending[member] = outcome.Outcome(outcome.ERROR, str(err))
        return pending, sent

    async def _finalize(self, key: Key, kind: registry.Kind, resource: member_kinds.Resource,
                        template: dict[str, Any]) -> runtime.Result:
        orphan = manifest.is_true(template, manifest.ORPHAN)
        pending, sent = await self._remove(key, resource, orphan=orphan)
        if pending:
            outcomes = {m: pending.get(m, outcome.Outcome(outcome.DELETING))
                        for m in sorted(self.members)}
            await self._report(kind, template, outcomes)
            # an unreachable member's health event brings the key back; an error retries
            failed = any(o.state == outcome.ERROR for o in pending.values())
            return runtime.Result(changed=sent, requeue_after=5.0 if failed else 0.0)
        if key[0] == endpointrs.GROUP_KIND:
            sent += await self.replica_sets.remove(template)
        finalizers = list(template["metadata"].get("finalizers") or [])
        if FINALIZER in finalizers:
            fresh = copy.deepcopy(template)
            fresh["metadata"]["finalizers"] = [f for f in finalizers if f != FINALIZER]
            await self._update(kind, fresh)
            sent += 1
        return runtime.Result(changed=sent)

    # -- reporting -----------------------------------------------------------------

    async def _report(self, kind: registry.Kind, template: dict[str, Any],
                      outcomes: dict[str, outcome.Outcome]) -> tuple[dict[str, Any], int]:
        """The outcomes as the template's annotation, and an Event per changed state."""
        notes = manifest.notes_of(template)
        text = outcome.encode(outcomes)
        if notes.get(manifest.MEMBERS) == text:
            return template, 0
        before = outcome.decode(notes.get(manifest.MEMBERS))
        fresh = copy.deepcopy(template)
        fresh["metadata"]["annotations"] = {**notes, manifest.MEMBERS: text}
        updated = await self._update(kind, fresh)
        # one Event per state and message: "members a, b: applied"
        same: dict[outcome.Outcome, list[str]] = {}
        for member, o in outcome.changed(before, outcomes).items():
            same.setdefault(o, []).append(member)
        for o, names in same.items():
            who = f"member {names[0]}" if len(names) == 1 else f"members {', '.join(names)}"
            self._later(self._emit(kind, updated, REASONS.get(o.state, o.state),
                                   f"{who}: {o.message or o.state.lower()}",
                                   o.state in outcome.WARNING_STATES))
        return updated, 1

    def _later(self, report: Any) -> None:
        """Write an Event without holding up the reconcile (a report, not the work)."""
        task = asyncio.create_task(report)
        self.reporting.add(task)
        task.add_done_callback(self.reporting.discard)

    async def settle(self) -> None:
        """Wait for the Events being written."""
        while self.reporting:
            await asyncio.gather(*list(self.reporting))

    async def _emit(self, kind: registry.Kind, template: dict[str, Any], reason: str,
                    message: str, warning: bool = False) -> None:
        events = self.storage.registry.lookup("", "v1", "events")
        if events is None:
            return
        meta = template["metadata"]
        namespace = str(meta.get("namespace") or "default")
        now = kapi_objects.timestamp()
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                         "namespace": namespace},
            "involvedObject": {"apiVersion": kind.api_version, "kind": kind.kind,
                               "name": meta["name"], "namespace": meta.get("namespace", ""),
                               "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": "Warning" if warning else "Normal",
            "source": {"component": "fedns-propagation"},
            "reportingComponent": "fedns.io/propagation",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            await self.storage.create(events, namespace, event)
        except kapi_status.ApiError as err:  # a report, not the work: never fail for it
            log.info("propagation: event for %s %s not recorded: %s", kind.kind,
                     meta["name"], err)

    async def _write_status(self, kind: registry.Kind, template: dict[str, Any],
                            copies: dict[str, dict[str, Any] | None]) -> int:
        if not kind.status:
            return 0
        summed = propagate_status.aggregate(template, copies)
        if summed is None or summed == (template.get("status") or {}):
            return 0
        # the status subresource takes only status from it: no need to copy the rest
        await self._update(kind, {**template, "status": summed}, subresource="status")
        return 1


def _version(template: dict[str, Any]) -> tuple[Any, ...]:
    """What a copy is built from, in short: the generation counts every change but
    to metadata and status (the endpoint bumps it as kube-apiserver does), so status
    writes leave it alone; labels and annotations are added (fedns's own are not
    copied).  An object without a generation: its resourceVersion."""
    meta = template["metadata"]
    if "generation" not in meta:
        return (meta.get("resourceVersion"),)
    notes = meta.get("annotations") or {}
    return (meta["generation"], tuple(sorted((meta.get("labels") or {}).items())),
            tuple(sorted((k, v) for k, v in notes.items()
                         if not k.startswith(manifest.PREFIX))))


def _cache_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _caught_up(cached: dict[str, Any] | None, applied: dict[str, Any]) -> bool:
    """True when the watch's object is the applied one or a later one (by
    resourceVersion, as client-go's MutationCache compares them); a version that is
    not a number says nothing, and the watch's object is taken."""
    if cached is None:
        return False
    try:
        return int(cached["metadata"]["resourceVersion"]) >= \
            int(applied["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return True
