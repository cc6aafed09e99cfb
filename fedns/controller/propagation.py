"""The propagation controller: templates posted at the federation endpoint, copied to
every member, and their members' status summed back onto them.

Keys are ``(group/kind, namespace, name)`` (``("apps/Deployment", "team", "web")``,
``("Namespace", "", "team")``).  A reconcile reads the template from the endpoint's
storage and, for each member (every member is placed; a Deployment's, ReplicaSet's
or StatefulSet's replicas and an autoscaler's bounds are divided evenly, see
:mod:`propagate.divide`):

- a member that is not Ready is left alone: its outcome is ``Unreachable`` and its
  health event brings the key back when it answers;
- an object of the same name that fedns did not create is not overwritten
  (``Conflict``) unless the template has the annotation ``fedns.io/adopt: "true"``;
- an object whose namespace the member lacks waits for it (``Waiting``);
- otherwise the manifest (:func:`propagate.manifest.build`) is applied with
  server-side apply, only when its hash differs from the member's copy.

The outcome per member goes on the template as the annotation ``fedns.io/members``
(compact JSON) and, when a member's state changes, as an Event at the endpoint.  The
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
import copy
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fedns import errors, templates
from fedns.controller import endpointrs, runtime
from fedns.kapi import objects as kapi_objects
from fedns.kapi import registry
from fedns.kapi import status as kapi_status
from fedns.members import kinds as member_kinds
from fedns.members import member as member_mod
from fedns.members import objects
from propagate import divide, manifest, order, outcome
from propagate import status as propagate_status

log = logging.getLogger(__name__)

FINALIZER = "fedns.io/propagation"
Key = tuple[str, str, str]
WAIT = 2.0  # seconds before an object waiting for its namespace is looked at again
SYNC_TIMEOUT = 10.0  # seconds to wait for newly followed caches of Ready members
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
    workers = 32

    def __init__(self, storage: Any, members: Mapping[str, member_mod.Member],
                 kinds: Mapping[registry.Kind, member_kinds.Resource]) -> None:
        super().__init__()
        self.storage = storage
        self.members = members
        self.by_gk = {templates.group_kind(k): (k, r) for k, r in kinds.items()}
        self.by_member_kind = {r.kind: gk for gk, (_, r) in self.by_gk.items()}
        self.by_prefix = {storage.collection_key(k): gk for gk, (k, _) in self.by_gk.items()}
        self.watches = runtime.Watches(kinds=frozenset(self.by_member_kind), health=True,
                                       prefixes=tuple(self.by_prefix))
        self.caches: dict[tuple[str, str], Any] = {}  # (member, Kind) -> informer
        self.known: set[Key] = set()  # template keys seen in the Store
        self.replica_sets = endpointrs.EndpointReplicaSets(storage, members)

    # -- events ------------------------------------------------------------------

    def _store_key(self, prefix: bytes, key: bytes) -> Key | None:
        gk = self.by_prefix.get(prefix)
        if gk is None:
            return None
        namespace, _, name = key[len(prefix):].decode().rpartition("/")
        return (gk, namespace, name)

    def map(self, event: runtime.Event) -> Iterable[Key]:
        if isinstance(event, runtime.StoreEvent):
            key = self._store_key(event.prefix, event.key)
            if key is None:
                return ()
            self.known.add(key)
            return [key]
        if isinstance(event, runtime.HealthEvent):
            return self._member_keys(event.member) | self.known
        if not isinstance(event, runtime.MemberEvent):
            return ()
        owner = endpointrs.EndpointReplicaSets.owner(event.kind, event.key, event.obj, event.old)
        if owner is not None:  # a member's Deployment made it: a copy's, its template's
            live = self._cached(event.member, "Deployment", owner[1], owner[2])
            return [owner] if manifest.is_copy(live) else []
        gk = self.by_member_kind.get(event.kind)
        if gk is None:
            return ()
        namespace, _, name = event.key.rpartition("/")
        key = (gk, namespace, name)
        found = []
        if key in self.known or manifest.is_copy(event.obj) or manifest.is_copy(event.old):
            found.append(key)
        if event.kind == "Namespace" and event.obj is not None:
            # what waited for this namespace in that member can go now
            found += [k for k in self.known if k[1] == name]
        return found

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
            for obj in (await self.storage.list(kind, "")).items:
                meta = obj["metadata"]
                found.add((gk, str(meta.get("namespace") or ""), str(meta["name"])))
        self.known |= found
        for member in self.members:
            found |= self._member_keys(member)
        return order.sort_keys(found)

    async def setup(self) -> None:
        """Follow the members' Deployment-made ReplicaSets (:mod:`.endpointrs`) and every propagated kind in every member (once; a followed kind is kept):
        the kinds a member always watches in full, the others only fedns's objects (a
        member's Secrets and ConfigMaps are none of fedns's business until one has the
        name of a template: then the apply's own read finds it and it is a Conflict)."""
        for name, m in self.members.items():
            for _, resource in self.by_gk.values():
                if (name, resource.kind) in self.caches:
                    continue
                selector = "" if resource.kind in member_mod.KINDS else objects.MANAGED_SELECTOR
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
        inf = self.caches.get((member, kind))
        if inf is None:
            return None
        found: dict[str, Any] | None = inf.cache.get(f"{namespace}/{name}" if namespace else name)
        return found

    def _namespaces(self, member: str) -> list[str]:
        inf = self.caches.get((member, "Namespace"))
        return list(inf.cache) if inf is not None else []

    async def _template(self, kind: registry.Kind, namespace: str, name: str
                        ) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.storage.get(kind, namespace, name)
        except kapi_status.ApiError as err:
            if err.code != 404:
                raise
            return None
        return found

    async def _update(self, kind: registry.Kind, obj: dict[str, Any],
                      subresource: str = "") -> dict[str, Any]:
        meta = obj["metadata"]
        try:
            done: dict[str, Any] = await self.storage.update(
                kind, str(meta.get("namespace") or ""), str(meta["name"]), obj,
                subresource=subresource)
        except kapi_status.ApiError as err:
            if err.code in (404, 409):
                raise Busy(f"{kind.kind} {meta['name']}: {err}", delay=0.05) from err
            raise
        return done

    # -- reconcile -------------------------------------------------------------

    async def reconcile(self, key: Any) -> runtime.Result:
        gk, namespace, name = key
        kind, resource = self.by_gk[gk]
        template = await self._template(kind, namespace, name)
        if template is None:
            self.known.discard(key)
            _, removed = await self._remove(key, resource, orphan=False)
            if gk == endpointrs.GROUP_KIND:
                removed += await self.replica_sets.remove_orphans(namespace, name)
            return runtime.Result(changed=removed)
        if not manifest.propagated(template):
            return runtime.Result()
        meta = template["metadata"]
        if meta.get("deletionTimestamp"):
            return await self._finalize(key, kind, resource, template)
        changed = 0
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER not in finalizers and kind.kind != "Namespace":
            # first the finalizer, then copies: a copy never outlives its template's
            # record of it (a Namespace's delete does not wait for finalizers; its
            # copies go when it is gone)
            fresh = copy.deepcopy(template)
            fresh["metadata"]["finalizers"] = [*finalizers, FINALIZER]
            template = await self._update(kind, fresh)
            changed += 1
        placed = sorted(self.members)
        divided = {}
        try:
            for field, total in manifest.totals(template).items():
                where = field
                divided[field] = divide.divide(total, placed, "/".join(key))
        except divide.BadReplicas as err:  # the template must change first: no retry
            problem = f"spec.{where}: must be a non-negative integer, got {err.total!r}"
            bad = dict.fromkeys(placed, outcome.Outcome(outcome.ERROR, problem))
            _, reported = await self._report(kind, template, bad)
            return runtime.Result(changed=changed + reported)
        results = await asyncio.gather(*(
            self._place(m, key, resource, template, {f: d[m] for f, d in divided.items()})
            for m in placed))
        outcomes = {m: r[0] for m, r in zip(placed, results, strict=True)}
        changed += sum(r[1] for r in results)
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
        return runtime.Result(changed=changed, requeue_after=retry)

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
        body = manifest.build(template, shares)
        live = self._cached(member, resource.kind, namespace, name)
        adopt = manifest.is_true(template, manifest.ADOPT)
        if live is not None and not manifest.is_managed(live) and not adopt:
            return outcome.Outcome(outcome.CONFLICT, (
                f"{resource.describe(namespace, name)} exists without the label "
                f"{manifest.MANAGED_BY_LABEL}={manifest.MANAGED_BY}: not overwritten "
                f"(annotate the template {manifest.ADOPT}=true to take it over)")), 0, 0.0
        if not manifest.needs_update(body, live):
            return outcome.Outcome(outcome.APPLIED), 0, 0.0
        try:
            await m.apply(body, resource=resource, adopt=adopt)
        except member_mod.NotManaged as err:
            # not in a filtered cache, so no event says when it goes: look again later
            return outcome.Outcome(outcome.CONFLICT, str(err)), 0, err.delay
        except errors.TemporaryError as err:
            return outcome.Outcome(outcome.ERROR, str(err)), 0, err.delay or 1.0
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
        await asyncio.gather(*(self._event(kind, updated, member, o)
                               for member, o in outcome.changed(before, outcomes).items()))
        return updated, 1

    async def _event(self, kind: registry.Kind, template: dict[str, Any], member: str,
                     o: outcome.Outcome) -> None:
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
            "reason": REASONS.get(o.state, o.state),
            "message": f"member {member}: {o.message or o.state.lower()}",
            "type": "Warning" if o.state in outcome.WARNING_STATES else "Normal",
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
        fresh = copy.deepcopy(template)
        fresh["status"] = summed
        await self._update(kind, fresh, subresource="status")
        return 1
