"""The simulated StatefulSet and DaemonSet controllers.

StatefulSet: Pods ``<set>-0`` .. ``<set>-N-1`` with ``hostname``/``subdomain`` and the
labels ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
``controller-revision-hash``.  With ``podManagementPolicy: OrderedReady`` (the
default) a Pod is made only once the ones before it are Running and Ready, and
scale-down removes the highest first, one at a time; ``Parallel`` does all at once.
RollingUpdate replaces Pods of an old revision from the highest ordinal down to the
``partition``, one at a time while the rest are Ready; OnDelete leaves them.  Status
carries the replica counts and ``currentRevision``/``updateRevision``.

DaemonSet: one Pod per Node that its nodeSelector, node affinity and taints allow (a
DaemonSet's Pods tolerate not-ready, unreachable and unschedulable Nodes, as
upstream adds), bound directly to the Node; RollingUpdate replaces outdated Pods
within ``maxUnavailable``.  Not for: ControllerRevision objects, PVC templates.
"""

from __future__ import annotations

import re
from typing import Any

from fedns.sim import deployment, fit, meta, replicaset, runtime

Obj = dict[str, Any]

REVISION = "controller-revision-hash"
POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
     "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def revision_name(owner: Obj) -> str:
    template = (owner.get("spec") or {}).get("template")
    return f"{meta.key(owner)[1]}-{meta.template_hash(template)}"


def _running_ready(pod: Obj) -> bool:
    return meta.pod_phase(pod) == "Running" and meta.pod_ready(pod) and not meta.deleting(pod)


class _Owner(runtime.Controller):
    """A workload controller whose Pods it finds by controller reference."""

    kind_name = ""

    def __init__(self, rt: runtime.Runtime, plural: str) -> None:
        super().__init__(rt)
        self.kind = rt.kind(plural, "apps")
        self.pods_kind = rt.kind("pods")
        self.owners = rt.watch(plural, "apps", lambda o, n: self.enqueue_obj(n))
        self.owned = replicaset.Owned(rt, self._on_pod)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        for pod in (old, new):
            ref = meta.controller_ref(pod) if pod is not None else None
            if pod is not None and ref is not None and ref.get("kind") == self.kind_name:
                self.enqueue((meta.key(pod)[0], str(ref.get("name", ""))))

    async def _write_status(self, owner: Obj, status: Obj) -> None:
        if status != (owner.get("status") or {}):
            await self.runtime.update_status(self.kind, owner, status)


class StatefulSets(_Owner):
    name = "statefulset"
    kind_name = "StatefulSet"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt, "statefulsets")

    def _pod(self, sts: Obj, ordinal: int, revision: str) -> Obj:
        name = f"{meta.key(sts)[1]}-{ordinal}"
        spec = sts.get("spec") or {}
        pod = replicaset.pod_from_template(sts, spec.get("template"), name=name, extra_labels={
            REVISION: revision, POD_NAME: name, POD_INDEX: str(ordinal)})
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        return pod

    async def reconcile(self, k: runtime.Key) -> float | None:
        sts = self.owners.get(k[0], k[1])
        if sts is None or meta.deleting(sts):
            return None
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        update = revision_name(sts)
        pattern = re.compile(rf"^{re.escape(k[1])}-(\d+)$")
        pods: dict[int, Obj] = {}
        for pod in self.owned.of(sts):
            match = pattern.match(meta.key(pod)[1])
            if match:
                pods[int(match.group(1))] = pod
        for ordinal in range(replicas):
            found = pods.get(ordinal)
            if found is not None and meta.pod_phase(found) in meta.TERMINAL:
                await self.runtime.delete(self.pods_kind, found)  # recreated next pass
                del pods[ordinal]
                found = None
            if found is None:
                pods[ordinal] = await self.runtime.create(self.pods_kind,
                                                          self._pod(sts, ordinal, update))
                if ordered:
                    break
            elif ordered and not _running_ready(found):
                break
        else:
            extra = sorted((o for o in pods if o >= replicas), reverse=True)
            everyone_ready = all(_running_ready(p) for o, p in pods.items() if o < replicas)
            for ordinal in extra:
                if ordered and not everyone_ready:
                    break
                await self.runtime.delete(self.pods_kind, pods.pop(ordinal))
                if ordered:
                    break
            strategy = spec.get("updateStrategy") or {}
            if not extra and strategy.get("type", "RollingUpdate") == "RollingUpdate" and \
                    all(_running_ready(p) for p in pods.values()):
                partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
                for ordinal in sorted(pods, reverse=True):
                    if ordinal >= partition and meta.labels(pods[ordinal]).get(REVISION) != update:
                        await self.runtime.delete(self.pods_kind, pods.pop(ordinal))
                        break
        await self._status(sts, list(pods.values()), update)
        return None

    async def _status(self, sts: Obj, pods: list[Obj], update: str) -> None:
        old = sts.get("status") or {}
        replicas = int((sts.get("spec") or {}).get("replicas", 1))
        current = str(old.get("currentRevision") or update)
        updated = sum(1 for p in pods if meta.labels(p).get(REVISION) == update)
        ready = sum(1 for p in pods if meta.pod_ready(p))
        if updated == replicas and ready == replicas == len(pods):
            current = update
        status: Obj = {"observedGeneration": meta.meta(sts).get("generation", 1),
                       "replicas": len(pods), "readyReplicas": ready,
                       "currentReplicas": sum(1 for p in pods
                                              if meta.labels(p).get(REVISION) == current),
                       "updatedReplicas": updated, "availableReplicas": ready,
                       "currentRevision": current, "updateRevision": update,
                       "collisionCount": 0}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "collisionCount")}
        await self._write_status(sts, status)


class DaemonSets(_Owner):
    name = "daemonset"
    kind_name = "DaemonSet"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt, "daemonsets")
        self.nodes = rt.watch("nodes", "", self._on_node)

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        for ds in self.owners.items():
            self.enqueue_obj(ds)

    def _pod(self, ds: Obj, node: str, revision: str) -> Obj:
        spec = ds.get("spec") or {}
        pod = replicaset.pod_from_template(ds, spec.get("template"),
                                           extra_labels={REVISION: revision})
        tolerations = list(pod["spec"].get("tolerations") or [])
        pod["spec"]["tolerations"] = tolerations + [t for t in DAEMON_TOLERATIONS
                                                    if t not in tolerations]
        pod["spec"]["nodeName"] = node
        return pod

    def eligible(self, ds: Obj, node: Obj) -> bool:
        probe = self._pod(ds, "", "")
        if not fit.node_affinity(probe, node):
            return False
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and \
                    not fit.tolerates(probe, taint):
                return False
        return True

    async def reconcile(self, k: runtime.Key) -> float | None:
        ds = self.owners.get(k[0], k[1])
        if ds is None or meta.deleting(ds):
            return None
        spec = ds.get("spec") or {}
        revision = meta.template_hash(spec.get("template"))
        wanted = {meta.key(n)[1] for n in self.nodes.items() if self.eligible(ds, n)}
        by_node: dict[str, list[Obj]] = {}
        for pod in self.owned.of(ds):
            if meta.pod_active(pod):
                by_node.setdefault(str((pod.get("spec") or {}).get("nodeName") or ""),
                                   []).append(pod)
        for node, pods in list(by_node.items()):
            keep = 1 if node in wanted else 0
            for pod in sorted(pods, key=replicaset.deletion_rank)[:len(pods) - keep]:
                await self.runtime.delete(self.pods_kind, pod)
                pods.remove(pod)
        for node in sorted(wanted - {n for n, p in by_node.items() if p}):
            by_node[node] = [await self.runtime.create(self.pods_kind,
                                                       self._pod(ds, node, revision))]
        placed = [p for node, pods in by_node.items() if node in wanted for p in pods]
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            budget = deployment.resolve(
                (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                len(wanted), False) or 1
            budget -= sum(1 for p in placed if not meta.pod_ready(p))
            for pod in placed:
                if budget <= 0:
                    break
                if meta.labels(pod).get(REVISION) != revision and meta.pod_ready(pod):
                    await self.runtime.delete(self.pods_kind, pod)
                    budget -= 1
        ready = sum(1 for p in placed if meta.pod_ready(p))
        status: Obj = {
            "currentNumberScheduled": len(placed),
            "numberMisscheduled": sum(len(p) for n, p in by_node.items() if n not in wanted),
            "desiredNumberScheduled": len(wanted), "numberReady": ready,
            "observedGeneration": meta.meta(ds).get("generation", 1),
            "updatedNumberScheduled": sum(1 for p in placed
                                          if meta.labels(p).get(REVISION) == revision),
            "numberAvailable": ready, "numberUnavailable": len(wanted) - ready,
        }
        status = {k: v for k, v in status.items()
                  if v or k in ("currentNumberScheduled", "numberMisscheduled",
                                "desiredNumberScheduled", "numberReady")}
        await self._write_status(ds, status)
        return None
