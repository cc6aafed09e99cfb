"""The simulated kubelets and node lifecycle: what happens to a Pod once it is bound.

A bound Pod becomes Running and Ready ``ready_delay`` seconds after its binding,
with an IP from its Node's ``spec.podCIDR``, ``hostIP``, ``startTime``, running
container statuses and the conditions a kubelet writes (PodReadyToStartContainers,
Initialized, Ready, ContainersReady, PodScheduled).  A Pod with ``restartPolicy``
Never or OnFailure runs ``run_seconds`` and then Succeeds.  On a Node whose Ready
condition is not True the Pods are marked not Ready (the node lifecycle controller's
MarkPodsNotReady) and new ones do not start; they come back when it is Ready again.

Trouble is asked for with annotations, which a test, the demo or ``kubectl annotate``
can set: on a Pod, ``sim.fedns.io/ready: "false"`` (its readiness probe fails),
``sim.fedns.io/phase: Failed`` or ``Succeeded`` (it ends so), and
``sim.fedns.io/run-seconds`` (how long it runs before it Succeeds).  Not for: probes,
restarts, logs, exec, eviction.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from fedns.sim import fit, meta, runtime

Obj = dict[str, Any]

READY = "sim.fedns.io/ready"
PHASE = "sim.fedns.io/phase"
RUN_SECONDS = "sim.fedns.io/run-seconds"


def runs_to_completion(pod: Obj) -> bool:
    return (pod.get("spec") or {}).get("restartPolicy", "Always") in ("Never", "OnFailure")


def qos_class(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    requests_seen = False
    guaranteed = bool(containers)
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            requests_seen = True
        for name in ("cpu", "memory"):
            if name not in limits or fit.quantity(requests.get(name, limits[name])) != \
                    fit.quantity(limits[name]):
                guaranteed = False
    if not requests_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _container_statuses(pod: Obj, ready: bool, state: Obj, field: str = "containers",
                        ) -> list[Obj]:
    found = []
    for container in (pod.get("spec") or {}).get(field) or []:
        name = str(container.get("name", ""))
        found.append({
            "name": name, "image": container.get("image", ""),
            "imageID": "", "containerID": f"fedns://{meta.uid(pod)[:13]}-{name}",
            "ready": ready, "started": "running" in state, "restartCount": 0,
            "state": state, "lastState": {},
        })
    return found


def node_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address", ""))
    return ""


class Kubelet(runtime.Controller):
    name = "kubelet"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.pods_kind = rt.kind("pods")
        self.pods = rt.watch("pods", "", self._on_pod)
        self.nodes = rt.watch("nodes", "", self._on_node)
        self.on_node: dict[str, set[meta.Key]] = {}
        self.ips: dict[str, set[str]] = {}  # node -> Pod IPs in use
        self.bound: dict[str, float] = {}  # uid -> when the kubelet first saw it bound
        self.started: dict[str, float] = {}  # uid -> when it started running

    @staticmethod
    def _holds(pod: Obj | None) -> tuple[str, str]:
        """(node, IP) a Pod holds: bound, with an IP, not finished."""
        if pod is None or meta.pod_phase(pod) in meta.TERMINAL:
            return "", ""
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        return node, str((pod.get("status") or {}).get("podIP") or "")

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        before, after = self._holds(old), self._holds(new)
        if before != after and before[0] and before[1]:
            self.ips.get(before[0], set()).discard(before[1])
        if after[0] and after[1]:
            self.ips.setdefault(after[0], set()).add(after[1])
        if new is None and old is not None:
            node = str((old.get("spec") or {}).get("nodeName") or "")
            self.on_node.get(node, set()).discard(meta.key(old))
            self.bound.pop(meta.uid(old), None)
            self.started.pop(meta.uid(old), None)
        elif new is not None and (new.get("spec") or {}).get("nodeName"):
            self.on_node.setdefault(new["spec"]["nodeName"], set()).add(meta.key(new))
            self.enqueue_obj(new)

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and fit.node_ready(old) == fit.node_ready(new):
            return
        name = meta.key(new or old or {})[1]
        for k in self.on_node.get(name, ()):
            self.enqueue(k)

    def _allocate_ip(self, node: Obj) -> str:
        name = meta.key(node)[1]
        cidr = (node.get("spec") or {}).get("podCIDR") or self.runtime.settings.pod_cidr
        used = self.ips.setdefault(name, set())
        network = ipaddress.ip_network(cidr, strict=False)
        for offset in range(2, network.num_addresses - 1):
            candidate = str(network.network_address + offset)
            if candidate not in used:
                used.add(candidate)
                return candidate
        return ""  # the range is full: the Pod runs without an IP, as with a full IPAM

    async def reconcile(self, k: runtime.Key) -> float | None:
        pod = self.pods.get(*k)
        if pod is None or meta.deleting(pod) or meta.pod_phase(pod) in meta.TERMINAL:
            return None
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node = self.nodes.get("", node_name) if node_name else None
        if node is None:
            return None
        uid = meta.uid(pod)
        clock = time.monotonic()
        node_ready = fit.node_ready(node)
        forced = meta.annotations_of(pod).get(PHASE, "")
        status = pod.get("status") or {}
        running = meta.pod_phase(pod) == "Running"
        if forced in meta.TERMINAL and (running or node_ready):
            await self._finish(pod, node, forced)
            return None
        if not running:
            if not node_ready:
                return None  # a dead kubelet starts nothing
            wait = self.bound.setdefault(uid, clock) + self.runtime.settings.ready_delay - clock
            if wait > 0:
                return wait
            await self._start(pod, node, node_ready)
            self.started[uid] = time.monotonic()
            return self._remaining(pod, time.monotonic())
        if runs_to_completion(pod) and node_ready:
            self.started.setdefault(uid, clock)
            left = self._remaining(pod, clock)
            if left is not None and left <= 0:
                await self._finish(pod, node, "Succeeded")
                return None
        ready = node_ready and meta.annotations_of(pod).get(READY, "true") != "false"
        if ready != meta.pod_ready(pod):
            new = dict(status)
            self._set_ready(pod, new, ready)
            await self.runtime.update_status(self.pods_kind, pod, new)
        return self._remaining(pod, clock) if node_ready else None

    def _remaining(self, pod: Obj, clock: float) -> float | None:
        if not runs_to_completion(pod):
            return None
        try:
            seconds = float(meta.annotations_of(pod).get(RUN_SECONDS,
                                                      self.runtime.settings.run_seconds))
        except ValueError:
            seconds = self.runtime.settings.run_seconds
        return self.started.get(meta.uid(pod), clock) + seconds - clock

    def _set_ready(self, pod: Obj, status: Obj, ready: bool) -> None:
        now = self.runtime.timestamp()
        names = [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or []]
        reason, message = ("", "") if ready else \
            ("ContainersNotReady", f"containers with unready status: [{' '.join(names)}]")
        conditions = status.get("conditions") or []
        for kind in ("Ready", "ContainersReady"):
            conditions = meta.set_condition(conditions, kind, "True" if ready else "False",
                                            reason, message, now, heartbeat="lastProbeTime")
        for item in conditions:
            if item["status"] == "True":
                item.pop("reason", None)
                item.pop("message", None)
            item["lastProbeTime"] = None
        status["conditions"] = conditions
        status["containerStatuses"] = [dict(s, ready=ready)
                                       for s in status.get("containerStatuses") or []]

    async def _start(self, pod: Obj, node: Obj, node_ready: bool) -> None:
        now = self.runtime.timestamp()
        status = dict(pod.get("status") or {})
        ip = status.get("podIP") or self._allocate_ip(node)
        host = node_ip(node)
        conditions = status.get("conditions") or []
        for kind in ("PodReadyToStartContainers", "Initialized", "PodScheduled"):
            conditions = meta.set_condition(conditions, kind, "True", "", "", now,
                                            heartbeat="lastProbeTime")
        status.update(phase="Running", conditions=conditions, hostIP=host,
                      hostIPs=[{"ip": host}], startTime=now, qosClass=qos_class(pod))
        if ip:
            status.update(podIP=ip, podIPs=[{"ip": ip}])
        state = {"running": {"startedAt": now}}
        status["containerStatuses"] = _container_statuses(pod, False, state)
        if (pod.get("spec") or {}).get("initContainers"):
            status["initContainerStatuses"] = _container_statuses(
                pod, False, {"terminated": {"exitCode": 0, "reason": "Completed",
                                            "startedAt": now, "finishedAt": now}},
                "initContainers")
        ready = node_ready and meta.annotations_of(pod).get(READY, "true") != "false"
        self._set_ready(pod, status, ready)
        await self.runtime.update_status(self.pods_kind, pod, status)

    async def _finish(self, pod: Obj, node: Obj, phase: str) -> None:
        now = self.runtime.timestamp()
        status = dict(pod.get("status") or {})
        started = status.get("startTime") or now
        code, why = (0, "Completed") if phase == "Succeeded" else (1, "Error")
        state = {"terminated": {"exitCode": code, "reason": why, "startedAt": started,
                                "finishedAt": now}}
        status.update(phase=phase, startTime=started,
                      containerStatuses=_container_statuses(pod, False, state))
        if not status.get("hostIP"):
            host = node_ip(node)
            status.update(hostIP=host, hostIPs=[{"ip": host}])
        reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        conditions = status.get("conditions") or []
        for kind in ("PodReadyToStartContainers", "Ready", "ContainersReady"):
            conditions = meta.set_condition(conditions, kind, "False",
                                            "" if kind == "PodReadyToStartContainers"
                                            else reason, "", now, heartbeat="lastProbeTime")
        for item in conditions:
            item["lastProbeTime"] = None
            if not item.get("reason"):
                item.pop("reason", None)
            if not item.get("message"):
                item.pop("message", None)
        status["conditions"] = conditions
        await self.runtime.update_status(self.pods_kind, pod, status)
