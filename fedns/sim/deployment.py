"""The simulated Deployment controller: ReplicaSets per pod template, rolled out as
kube-controller-manager's ``pkg/controller/deployment`` does.

Each template gets a ReplicaSet ``<deployment>-<pod-template-hash>`` whose labels,
selector and template carry the ``pod-template-hash`` label, and a
``deployment.kubernetes.io/revision`` (one more than the highest; a template that
comes back, as with ``kubectl rollout undo``, takes a new revision and records the old
one in ``revision-history``).  RollingUpdate stays within ``maxSurge`` and
``maxUnavailable`` (surge rounds up, unavailable down, never both 0); Recreate scales
the old ReplicaSets to 0 and waits for their Pods to go before the new one starts.
Old ReplicaSets at 0 beyond ``revisionHistoryLimit`` are deleted.  Status has
``observedGeneration``, the replica counts and the Available and Progressing
conditions with upstream's reasons and messages, including ProgressDeadlineExceeded.
Paused Deployments only scale.  Each scale of a ReplicaSet is a ``ScalingReplicaSet``
Event on the Deployment with upstream's message ("Scaled up replica set web-5d8f to 3",
"Scaled down replica set web-5d8f to 1 from 2").  Not for: proportional scaling of several live
ReplicaSets (a mid-rollout scale goes to the new one), adoption by selector.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from fedns.kapi import objects, status
from fedns.sim import meta, replicaset, runtime

Obj = dict[str, Any]

HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
# the Event a scale writes, as kube-controller-manager's deployment controller does
SCALING = "ScalingReplicaSet"
COMPONENT = "deployment-controller"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
_NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, HISTORY,
               DESIRED, MAX, "deprecated.deployment.rollback.to"}


def resolve(value: Any, total: int, round_up: bool) -> int:
    """An int or a percentage of ``total`` (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, int):
        return value
    text = str(value or "0")
    if text.endswith("%"):
        share = int(text[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(text)


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers; (0, 0) for Recreate."""
    spec = d.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1))
    surge = resolve(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def revision(obj: Obj) -> int:
    try:
        return int(meta.annotations_of(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def _spec_replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _status(rs: Obj, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0))


def _created(rs: Obj) -> str:
    return str(meta.meta(rs).get("creationTimestamp") or "")


class Deployments(runtime.Controller):
    name = "deployment"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.kind = rt.kind("deployments", "apps")
        self.rs_kind = rt.kind("replicasets", "apps")
        self.deployments = rt.watch("deployments", "apps", lambda o, n: self.enqueue_obj(n))
        self.sets = replicaset.Owned(rt, self._on_rs, "replicasets", "apps")

    def _on_rs(self, old: Obj | None, new: Obj | None) -> None:
        for k in replicaset.controllers_of("Deployment", old, new):
            self.enqueue(k)

    def owned(self, d: Obj) -> list[Obj]:
        return sorted(self.sets.of(d), key=_created)

    async def reconcile(self, k: runtime.Key) -> float | None:
        d = self.deployments.get(*k)
        if d is None or meta.deleting(d):
            return None
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        sets = self.owned(d)
        new_rs = next((rs for rs in sets if meta.template_equal(
            (rs.get("spec") or {}).get("template"), template)), None)
        olds = [rs for rs in sets if rs is not new_rs]
        top = max((revision(rs) for rs in olds), default=0)
        replicas = int(spec.get("replicas", 1))
        surge, unavailable = surge_and_unavailable(d)
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        reason = ""
        if spec.get("paused"):
            if new_rs is not None and _spec_replicas(new_rs) != replicas and \
                    not any(_spec_replicas(rs) for rs in olds):
                new_rs = await self._scale(new_rs, replicas, d)
            return await self._sync_status(d, new_rs, olds, "DeploymentPaused")
        if recreate and any(_spec_replicas(rs) for rs in olds):
            olds = [await self._scale(rs, 0, d) if _spec_replicas(rs) else rs for rs in olds]
        if recreate and any(_status(rs, "replicas") for rs in olds):
            return await self._sync_status(d, new_rs, olds, "")
        if new_rs is None:
            old_total = sum(_spec_replicas(rs) for rs in olds)
            first = replicas if recreate or not old_total else \
                min(replicas, max(0, replicas + surge - old_total))
            new_rs = await self._create(d, first, top + 1)
            if new_rs is None:
                return 0.05  # a hash collision: collisionCount moved, try again
            reason = "NewReplicaSetCreated"
        else:
            new_rs = await self._claim_revision(d, new_rs, top)
        if recreate or not any(_spec_replicas(rs) for rs in olds):
            if _spec_replicas(new_rs) != replicas:
                new_rs = await self._scale(new_rs, replicas, d)
        else:
            new_rs, olds = await self._roll(d, new_rs, olds, replicas, surge, unavailable)
        olds = await self._clean_history(d, olds)
        if int(meta.annotations_of(d).get(REVISION, "0") or 0) != revision(new_rs):
            changed = dict(d, metadata=dict(meta.meta(d), annotations=dict(
                meta.annotations_of(d), **{REVISION: str(revision(new_rs))})))
            d = await self.runtime.update(self.kind, changed)
        return await self._sync_status(d, new_rs, olds, reason)

    # -- ReplicaSets ---------------------------------------------------------

    def _annotations(self, d: Obj, rs_revision: int, history: str = "") -> dict[str, str]:
        surge, _ = surge_and_unavailable(d)
        replicas = int((d.get("spec") or {}).get("replicas", 1))
        found = {k: v for k, v in meta.annotations_of(d).items() if k not in _NOT_COPIED}
        found.update({DESIRED: str(replicas), MAX: str(replicas + surge),
                      REVISION: str(rs_revision)})
        if history:
            found[HISTORY] = history
        return found

    async def _create(self, d: Obj, replicas: int, rs_revision: int) -> Obj | None:
        spec = d.get("spec") or {}
        collisions = int((d.get("status") or {}).get("collisionCount") or 0)
        template = objects.clone(spec.get("template") or {})
        hashed = meta.template_hash(template, collisions)
        template_meta = template.setdefault("metadata", {})
        template_meta["labels"] = dict(template_meta.get("labels") or {}, **{HASH: hashed})
        selector = objects.clone(spec.get("selector") or {})
        selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{HASH: hashed})
        name = f"{meta.meta(d).get('name')}-{hashed}"
        rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": name, "namespace": meta.key(d)[0],
                           "labels": dict(template_meta["labels"]),
                           "annotations": self._annotations(d, rs_revision),
                           "ownerReferences": [meta.owner_ref(d)]},
              "spec": rs_spec}
        try:
            created = await self.runtime.create(self.rs_kind, rs)
        except status.ApiError as err:
            if err.reason != "AlreadyExists":
                raise
        else:
            if replicas:
                await self.runtime.record(d, "Normal", SCALING,
                                          f"Scaled up replica set {name} to {replicas}",
                                          COMPONENT)
            return created
        existing = await self.runtime.storage.get(self.rs_kind, meta.key(d)[0], name)
        if meta.controller_uid(existing) == meta.uid(d) and meta.template_equal(
                (existing.get("spec") or {}).get("template"), spec.get("template")):
            self.sets.informer.observe(existing)
            return existing
        new_status = dict(d.get("status") or {}, collisionCount=collisions + 1)
        await self.runtime.update_status(self.kind, d, new_status)
        return None

    async def _claim_revision(self, d: Obj, rs: Obj, top: int) -> Obj:
        """The current template's ReplicaSet holds the newest revision (a rollback
        moves an old one to the front and records where it was)."""
        mine = revision(rs)
        history = meta.annotations_of(rs).get(HISTORY, "")
        if mine <= top:
            history = f"{history},{mine}" if history else str(mine) if mine else ""
            mine = top + 1
        wanted = self._annotations(d, mine, history)
        if all(meta.annotations_of(rs).get(k) == v for k, v in wanted.items()):
            return rs
        changed = dict(rs, metadata=dict(meta.meta(rs), annotations=dict(
            meta.annotations_of(rs), **wanted)))
        return await self.runtime.update(self.rs_kind, changed)

    async def _scale(self, rs: Obj, replicas: int, d: Obj) -> Obj:
        surge, _ = surge_and_unavailable(d)
        want = int((d.get("spec") or {}).get("replicas", 1))
        annotations = dict(meta.annotations_of(rs), **{DESIRED: str(want),
                                                    MAX: str(want + surge)})
        changed = dict(rs, metadata=dict(meta.meta(rs), annotations=annotations),
                       spec=dict(rs.get("spec") or {}, replicas=replicas))
        scaled = await self.runtime.update(self.rs_kind, changed)
        before = _spec_replicas(rs)
        if before != replicas:
            await self.runtime.record(
                d, "Normal", SCALING, f"Scaled {'up' if replicas > before else 'down'} "
                f"replica set {meta.key(rs)[1]} to {replicas} from {before}", COMPONENT)
        return scaled

    async def _roll(self, d: Obj, new_rs: Obj, olds: list[Obj], replicas: int, surge: int,
                    unavailable: int) -> tuple[Obj, list[Obj]]:
        """One step of a rolling update (reconcileNewReplicaSet, reconcileOldReplicaSets)."""
        total = _spec_replicas(new_rs) + sum(_spec_replicas(rs) for rs in olds)
        current = _spec_replicas(new_rs)
        if current < replicas:
            target = min(replicas, current + max(0, replicas + surge - total))
            if target != current:
                new_rs = await self._scale(new_rs, target, d)
        elif current > replicas:
            new_rs = await self._scale(new_rs, replicas, d)
        everything = _spec_replicas(new_rs) + sum(_spec_replicas(rs) for rs in olds)
        min_available = replicas - unavailable
        new_unavailable = _spec_replicas(new_rs) - _status(new_rs, "availableReplicas")
        budget = everything - min_available - new_unavailable
        if budget <= 0:
            return new_rs, olds
        result = []
        for rs in olds:  # oldest first: unhealthy replicas go first
            unhealthy = _spec_replicas(rs) - _status(rs, "availableReplicas")
            cut = min(budget, max(0, unhealthy))
            if cut:
                rs = await self._scale(rs, _spec_replicas(rs) - cut, d)
                budget -= cut
            result.append(rs)
        olds = result
        available = _status(new_rs, "availableReplicas") + sum(
            min(_status(rs, "availableReplicas"), _spec_replicas(rs)) for rs in olds)
        down = available - min_available
        result = []
        for rs in olds:
            cut = min(_spec_replicas(rs), max(0, down))
            if cut:
                rs = await self._scale(rs, _spec_replicas(rs) - cut, d)
                down -= cut
            result.append(rs)
        return new_rs, result

    async def _clean_history(self, d: Obj, olds: list[Obj]) -> list[Obj]:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        idle = sorted((rs for rs in olds if not _spec_replicas(rs) and
                       not _status(rs, "replicas") and not meta.deleting(rs)), key=revision)
        extra = idle[:max(0, len(idle) - int(limit))]
        for rs in extra:
            await self.runtime.delete(self.rs_kind, rs)
        return [rs for rs in olds if rs not in extra]

    # -- status --------------------------------------------------------------

    async def _sync_status(self, d: Obj, new_rs: Obj | None, olds: list[Obj],
                           reason: str) -> float | None:
        spec = d.get("spec") or {}
        sets = ([new_rs] if new_rs is not None else []) + olds
        replicas = int(spec.get("replicas", 1))
        _, unavailable = surge_and_unavailable(d)
        old_status = d.get("status") or {}
        counts = {
            "replicas": sum(_status(rs, "replicas") for rs in sets),
            "updatedReplicas": _status(new_rs, "replicas") if new_rs is not None else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in sets),
            "availableReplicas": sum(_status(rs, "availableReplicas") for rs in sets),
        }
        counts["unavailableReplicas"] = max(0, sum(_spec_replicas(rs) for rs in sets)
                                            - counts["availableReplicas"])
        new_status: Obj = {"observedGeneration": meta.meta(d).get("generation", 1)}
        new_status.update({k: v for k, v in counts.items() if v})
        if old_status.get("collisionCount"):
            new_status["collisionCount"] = old_status["collisionCount"]
        now = self.runtime.timestamp()
        conditions = old_status.get("conditions") or []
        if counts["availableReplicas"] >= replicas - unavailable:
            conditions = meta.set_condition(conditions, "Available", "True",
                                            "MinimumReplicasAvailable",
                                            "Deployment has minimum availability.", now,
                                            heartbeat="lastUpdateTime")
        else:
            conditions = meta.set_condition(conditions, "Available", "False",
                                            "MinimumReplicasUnavailable",
                                            "Deployment does not have minimum availability.",
                                            now, heartbeat="lastUpdateTime")
        rs_name = str(meta.meta(new_rs).get("name", "")) if new_rs is not None else ""
        complete = (counts["updatedReplicas"] == replicas and counts["replicas"] == replicas
                    and counts["availableReplicas"] == replicas)
        progressed = any(counts[f] > int(old_status.get(f, 0)) for f in
                         ("updatedReplicas", "readyReplicas", "availableReplicas")) or \
            counts["replicas"] < int(old_status.get("replicas", 0))
        again: float | None = None
        deadline = spec.get("progressDeadlineSeconds")
        current = meta.condition(d, "Progressing")
        if reason == "DeploymentPaused":
            conditions = meta.set_condition(conditions, "Progressing", "Unknown",
                                            "DeploymentPaused", "Deployment is paused", now,
                                            heartbeat="lastUpdateTime")
        elif complete and new_rs is not None:
            conditions = meta.set_condition(
                conditions, "Progressing", "True", "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.', now,
                heartbeat="lastUpdateTime")
        elif reason == "NewReplicaSetCreated":
            conditions = meta.set_condition(conditions, "Progressing", "True", reason,
                                            f'Created new replica set "{rs_name}"', now,
                                            heartbeat="lastUpdateTime")
        elif new_rs is not None and (progressed or current is None or
                                     current.get("reason") in ("NewReplicaSetAvailable",
                                                               "DeploymentPaused",
                                                               "DeploymentResumed")):
            conditions = meta.set_condition(
                conditions, "Progressing", "True", "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.', now, heartbeat="lastUpdateTime")
            for item in conditions:
                if item["type"] == "Progressing":
                    item["lastUpdateTime"] = now
        elif deadline is not None and current is not None and \
                current.get("status") == "True" and new_rs is not None:
            since = _parse(str(current.get("lastUpdateTime") or ""))
            if since is not None:
                left = (since + datetime.timedelta(seconds=int(deadline))
                        - self.runtime.now()).total_seconds()
                if left <= 0:
                    conditions = meta.set_condition(
                        conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.', now,
                        heartbeat="lastUpdateTime")
                else:
                    again = left + 0.5
        new_status["conditions"] = conditions
        if new_status != old_status:
            await self.runtime.update_status(self.kind, d, new_status)
        return again


def _parse(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC)
    except ValueError:
        return None
