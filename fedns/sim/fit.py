"""Whether a Pod fits a Node, as kube-scheduler's filter plugins decide it.

Resource quantities (``100m``, ``128Mi``, ``1.5``, ``2G``), a Pod's requests (the sum
of its containers', or its largest init container's if larger), and the filters
NodeUnschedulable, NodeName, NodeAffinity (nodeSelector), TaintToleration, NodeReady
and NodeResourcesFit (cpu, memory, pods against ``status.allocatable``), with the
scheduler's reasons, and the message of an unschedulable Pod
(``0/2 nodes are available: 2 Insufficient cpu.``).  Pure.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fedns.sim import meta

Obj = dict[str, Any]

_SUFFIX: dict[str, Decimal | int] = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
           "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(e[+-]?[0-9]+|[a-zA-Z]*)$")


def quantity(value: Any) -> Decimal:
    """A resource.Quantity as a number (cpu in cores, memory in bytes); 0 if unparsable."""
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value or "").strip())
    if not match:
        return Decimal(0)
    number, suffix = match.groups()
    try:
        if suffix.startswith("e"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX.get(suffix, 0)
    except InvalidOperation:
        return Decimal(0)


@dataclasses.dataclass(frozen=True)
class Request:
    cpu: Decimal = Decimal(0)
    memory: Decimal = Decimal(0)
    pods: int = 1

    def __add__(self, other: Request) -> Request:
        return Request(self.cpu + other.cpu, self.memory + other.memory,
                       self.pods + other.pods)

    def __sub__(self, other: Request) -> Request:
        return Request(self.cpu - other.cpu, self.memory - other.memory,
                       self.pods - other.pods)


NOTHING = Request(pods=0)


def _container_request(container: Obj) -> Request:
    requests = (container.get("resources") or {}).get("requests") or {}
    limits = (container.get("resources") or {}).get("limits") or {}
    # a limit without a request defaults the request to the limit (apiserver defaulting)
    return Request(quantity(requests.get("cpu", limits.get("cpu", 0))),
                   quantity(requests.get("memory", limits.get("memory", 0))), 0)


def pod_request(pod: Obj) -> Request:
    spec = pod.get("spec") or {}
    total = Request(pods=1)
    for container in spec.get("containers") or []:
        total = total + _container_request(container)
    for container in spec.get("initContainers") or []:
        one = _container_request(container)
        total = Request(max(total.cpu, one.cpu), max(total.memory, one.memory), 1)
    return total


def allocatable(node: Obj) -> Request:
    status = node.get("status") or {}
    found = status.get("allocatable") or status.get("capacity") or {}
    pods = int(quantity(found.get("pods", 110)))
    return Request(quantity(found.get("cpu", 0)), quantity(found.get("memory", 0)), pods)


def node_ready(node: Obj) -> bool:
    found = meta.condition(node, "Ready")
    return bool(found and found.get("status") == "True")


def tolerates(pod: Obj, taint: Obj) -> bool:
    for toleration in (pod.get("spec") or {}).get("tolerations") or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and \
                toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def node_affinity(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec") or {}
    if not meta.map_matches(spec.get("nodeSelector"), meta.labels(node)):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    node_labels = meta.labels(node)
    for term in terms:
        expressions = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        name = str(meta.meta(node).get("name", ""))
        ok = meta.selector_matches({"matchExpressions": expressions}, node_labels) \
            if expressions else True
        for field in fields:
            if field.get("key") == "metadata.name":
                inside = name in (field.get("values") or [])
                ok = ok and (inside if field.get("operator") == "In" else not inside)
        if ok and (expressions or fields):
            return True
    return False


def reasons(pod: Obj, node: Obj, used: Request) -> list[str]:
    """Why ``pod`` does not fit ``node`` whose bound Pods request ``used``; empty if
    it fits.  The reasons are kube-scheduler's."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable") and not tolerates(
            pod, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
        return ["node(s) were unschedulable"]
    if not node_affinity(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
            return [(f"node(s) had untolerated taint {{{taint.get('key')}: "
                     f"{taint.get('value', '')}}}")]
    if not node_ready(node):
        return ["node(s) were not ready"]
    room = allocatable(node) - used
    want = pod_request(pod)
    found = []
    if want.pods > room.pods:
        found.append("Too many pods")
    if want.cpu > room.cpu and want.cpu > 0:
        found.append("Insufficient cpu")
    if want.memory > room.memory and want.memory > 0:
        found.append("Insufficient memory")
    return found


def unschedulable_message(total: int, why: list[list[str]]) -> str:
    """``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable.``
    (reasons counted and sorted, as the scheduler's FitError prints them)."""
    counts: collections.Counter[str] = collections.Counter()
    for node_reasons in why:
        counts.update(node_reasons)
    if total == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{count} {reason}" for reason, count in counts.items())
    return (f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} "
            f"nodes are available: {total} Preemption is not helpful for scheduling.")


def score(node: Obj, used: Request, pod: Obj) -> Decimal:
    """Higher is better: the share of the Node left free after placing ``pod``
    (NodeResourcesFit's LeastAllocated), so Pods spread over Nodes."""
    room = allocatable(node)
    after = used + pod_request(pod)
    shares = []
    for have, take in ((room.cpu, after.cpu), (room.memory, after.memory),
                       (Decimal(room.pods), Decimal(after.pods))):
        if have > 0:
            shares.append((have - take) / have)
    return sum(shares, Decimal(0)) / len(shares) if shares else Decimal(0)
