"""The simulated scheduler: binds each new Pod to a Node it fits, or marks it
Unschedulable.

Pods of ``schedulerName: default-scheduler`` without a ``nodeName`` are bound to the
best-fitting Node (:mod:`fedns.sim.fit`: readiness, taints, nodeSelector and node
affinity, cpu, memory and pod count against ``allocatable``); the binding sets
``spec.nodeName`` and the ``PodScheduled=True`` condition, as the binding
subresource does.  A Pod that fits nowhere stays Pending with ``PodScheduled=False``,
reason ``Unschedulable``, and is tried again whenever a Node changes or a bound Pod
goes away.  Events, as kube-scheduler's: ``Scheduled`` ("Successfully assigned
NS/POD to NODE") on binding, a Warning ``FailedScheduling`` with the message each time
it changes.  Not for: preemption, priorities, inter-pod affinity, topology spread.
"""

from __future__ import annotations

from typing import Any

from fedns.sim import fit, meta, runtime

Obj = dict[str, Any]

SCHEDULER = "default-scheduler"


def _counts(pod: Obj | None) -> str:
    """The Node a Pod's requests count against: bound and not finished."""
    if pod is None or meta.pod_phase(pod) in meta.TERMINAL:
        return ""
    return str((pod.get("spec") or {}).get("nodeName") or "")


class Scheduler(runtime.Controller):
    name = "scheduler"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.pods_kind = rt.kind("pods")
        self.pods = rt.watch("pods", "", self._on_pod)
        self.nodes = rt.watch("nodes", "", self._on_node)
        self.used: dict[str, fit.Request] = {}
        self.waiting: set[runtime.Key] = set()

    def _needs(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and spec.get("schedulerName", SCHEDULER) == SCHEDULER
                and not meta.deleting(pod) and meta.pod_phase(pod) == "Pending")

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        before, after = _counts(old), _counts(new)
        if before != after or (before and old is not None and new is not None and
                               fit.pod_request(old) != fit.pod_request(new)):
            if before and old is not None:
                self.used[before] = self.used.get(before, fit.NOTHING) - fit.pod_request(old)
                self._retry()  # room was freed
            if after and new is not None:
                self.used[after] = self.used.get(after, fit.NOTHING) + fit.pod_request(new)
        if new is not None and self._needs(new):
            self.enqueue_obj(new)
        elif new is None and old is not None:
            self.waiting.discard(meta.key(old))

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        self._retry()

    def _retry(self) -> None:
        for k in self.waiting:
            self.enqueue(k)

    async def reconcile(self, k: runtime.Key) -> float | None:
        pod = self.pods.get(*k)
        if pod is None or not self._needs(pod):
            self.waiting.discard(k)
            return None
        nodes = sorted(self.nodes.items(), key=lambda n: meta.key(n)[1])
        best: Obj | None = None
        best_score = None
        why: list[list[str]] = []
        for node in nodes:
            name = meta.key(node)[1]
            used = self.used.get(name, fit.NOTHING)
            problems = fit.reasons(pod, node, used)
            if problems:
                why.append(problems)
                continue
            value = fit.score(node, used, pod)
            if best_score is None or value > best_score:
                best, best_score = node, value
        now = self.runtime.timestamp()
        if best is None:
            self.waiting.add(k)
            message = fit.unschedulable_message(len(nodes), why)
            found = meta.condition(pod, "PodScheduled")
            if found and found.get("reason") == "Unschedulable" and \
                    found.get("message") == message:
                return None
            status = dict(pod.get("status") or {})
            status["phase"] = "Pending"
            status["conditions"] = meta.set_condition(
                status.get("conditions") or [], "PodScheduled", "False", "Unschedulable",
                message, now, heartbeat="lastProbeTime")
            updated = await self.runtime.update_status(self.pods_kind, pod, status)
            await self.runtime.record(updated, "Warning", "FailedScheduling", message, SCHEDULER)
            return None
        self.waiting.discard(k)
        bound = dict(pod)
        bound["spec"] = dict(pod.get("spec") or {}, nodeName=meta.key(best)[1])
        bound = await self.runtime.update(self.pods_kind, bound)
        status = dict(bound.get("status") or {})
        status["conditions"] = meta.set_condition(
            status.get("conditions") or [], "PodScheduled", "True", "", "", now,
            heartbeat="lastProbeTime")
        for item in status["conditions"]:
            if item["type"] == "PodScheduled":
                item.pop("reason", None)
                item.pop("message", None)
                item["lastProbeTime"] = None
        bound = await self.runtime.update_status(self.pods_kind, bound, status)
        namespace, name = meta.key(bound)
        await self.runtime.record(bound, "Normal", "Scheduled", f"Successfully assigned "
                                  f"{namespace}/{name} to {meta.key(best)[1]}", SCHEDULER)
        return None
