"""The simulated ReplicaSet controller: keeps ``spec.replicas`` Pods of each
ReplicaSet and reports them in its status.

Pods are made from the template with ``generateName: <replicaset>-`` and a
controller ownerReference; extra ones go first where they hurt least (unbound, then
Pending, then not Ready, then the newest), as ``getPodsToDelete`` ranks them.  Status
has ``replicas``, ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``
(Ready for ``minReadySeconds``) and ``observedGeneration``.  :func:`pod_from_template`
is shared with the other workload controllers.  Not for: adopting or releasing Pods
by selector (only controller references count).
"""

from __future__ import annotations

import datetime
from typing import Any

from fedns.kapi import objects
from fedns.sim import meta, runtime

Obj = dict[str, Any]


def pod_from_template(owner: Obj, template: Obj | None, *, name: str = "",
                      generate: str = "", extra_labels: dict[str, str] | None = None) -> Obj:
    """A new Pod of ``owner`` (namespace, controller reference) from ``template``."""
    template = objects.clone(template or {})
    metadata = template.get("metadata") or {}
    pod_meta: Obj = {"namespace": meta.meta(owner).get("namespace", "")}
    if name:
        pod_meta["name"] = name
    else:
        pod_meta["generateName"] = generate or f"{meta.meta(owner).get('name', '')}-"
    pod_meta["labels"] = dict(metadata.get("labels") or {}, **(extra_labels or {}))
    if metadata.get("annotations"):
        pod_meta["annotations"] = dict(metadata["annotations"])
    pod_meta["ownerReferences"] = [meta.owner_ref(owner)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": template.get("spec") or {}}


def available(pod: Obj, min_ready: int, now: datetime.datetime) -> tuple[bool, float | None]:
    """Whether a Pod counts as available, and when to look again if it will soon."""
    if not meta.pod_ready(pod) or meta.deleting(pod):
        return False, None
    if min_ready <= 0:
        return True, None
    since = _parse(meta.pod_ready_since(pod))
    if since is None:
        return True, None
    left = (since + datetime.timedelta(seconds=min_ready) - now).total_seconds()
    return (left <= 0), (left if left > 0 else None)


def _parse(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC)
    except ValueError:
        return None


def deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """Lower goes first: unbound, Pending, not Ready, then the newest."""
    spec = pod.get("spec") or {}
    created = str(meta.meta(pod).get("creationTimestamp") or "")
    return (1 if spec.get("nodeName") else 0,
            1 if meta.pod_phase(pod) == "Running" else 0,
            1 if meta.pod_ready(pod) else 0,
            "".join(chr(255 - ord(c)) for c in created))


class Owned:
    """Objects of one kind by the uid of their controller (an index over its informer);
    every change is passed on to ``on_change``."""

    def __init__(self, rt: runtime.Runtime, on_change: runtime.Handler,
                 plural: str = "pods", group: str = "") -> None:
        self.by_owner: dict[str, set[meta.Key]] = {}
        self.informer = rt.watch(plural, group, self._changed)
        self._on_change = on_change

    def _changed(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and (new is None or meta.controller_uid(old) !=
                                meta.controller_uid(new)):
            self.by_owner.get(meta.controller_uid(old), set()).discard(meta.key(old))
        if new is not None and meta.controller_uid(new):
            self.by_owner.setdefault(meta.controller_uid(new), set()).add(meta.key(new))
        self._on_change(old, new)

    def of(self, owner: Obj) -> list[Obj]:
        found = []
        for k in self.by_owner.get(meta.uid(owner), ()):
            obj = self.informer.get(*k)
            if obj is not None:
                found.append(obj)
        return found


def controllers_of(kind: str, *objs: Obj | None) -> set[meta.Key]:
    """The keys of the objects of ``kind`` that control any of ``objs``."""
    found = set()
    for obj in objs:
        ref = meta.controller_ref(obj) if obj is not None else None
        if obj is not None and ref is not None and ref.get("kind") == kind:
            found.add((meta.key(obj)[0], str(ref.get("name", ""))))
    return found


class ReplicaSets(runtime.Controller):
    name = "replicaset"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.kind = rt.kind("replicasets", "apps")
        self.pods_kind = rt.kind("pods")
        self.sets = rt.watch("replicasets", "apps", lambda old, new: self.enqueue_obj(new))
        self.owned = Owned(rt, self._on_pod)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        for pod in (old, new):
            ref = meta.controller_ref(pod) if pod is not None else None
            if pod is not None and ref is not None and ref.get("kind") == "ReplicaSet":
                self.enqueue((meta.key(pod)[0], str(ref.get("name", ""))))

    async def reconcile(self, k: runtime.Key) -> float | None:
        rs = self.sets.get(*k)
        if rs is None:
            return None
        pods = [p for p in self.owned.of(rs) if meta.pod_active(p)]
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        if not meta.deleting(rs):
            if len(pods) < want:
                for _ in range(want - len(pods)):
                    pod = pod_from_template(rs, spec.get("template"))
                    pods.append(await self.runtime.create(self.pods_kind, pod))
            elif len(pods) > want:
                pods.sort(key=deletion_rank)
                for pod in pods[:len(pods) - want]:
                    await self.runtime.delete(self.pods_kind, pod)
                pods = pods[len(pods) - want:]
        return await self._status(rs, pods)

    async def _status(self, rs: Obj, pods: list[Obj]) -> float | None:
        spec = rs.get("spec") or {}
        now = self.runtime.now()
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        ready = sum(1 for p in pods if meta.pod_ready(p))
        available_count, again = 0, None
        for pod in pods:
            ok, later = available(pod, min_ready, now)
            available_count += ok
            if later is not None:
                again = later if again is None else min(again, later)
        status: Obj = {}
        counts = (("replicas", len(pods)),
                  ("fullyLabeledReplicas",
                   sum(1 for p in pods if meta.map_matches(template_labels, meta.labels(p)))),
                  ("readyReplicas", ready), ("availableReplicas", available_count))
        status["replicas"] = len(pods)  # replicas is always written, as upstream
        for name, value in counts[1:]:
            if value:
                status[name] = value
        status["observedGeneration"] = meta.meta(rs).get("generation", 1)
        old = dict(rs.get("status") or {})
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if status != old:
            await self.runtime.update_status(self.kind, rs, status)
        return again
