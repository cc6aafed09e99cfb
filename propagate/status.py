"""Member status summed back onto the template, so the endpoint reads like one cluster.

``aggregate(template, copies)`` returns the template's new ``status`` from the
members' copies (``member -> copy``, None where the member has none yet), or None
for kinds whose status is not aggregated:

- Deployment, ReplicaSet, StatefulSet, DaemonSet, Job: counts summed; conditions
  merged per type (True only when every placed member says True, False when one says
  False, else Unknown; the message names the members that differ);
  ``observedGeneration`` becomes the template's generation only when every placed
  member has caught up (its copy carries that generation and its controller has
  observed it), otherwise it keeps the template's previous value, so ``kubectl
  rollout status`` and ``helm --wait`` wait for the slowest member.
- Service, Ingress: ``loadBalancer.ingress`` lists every member's addresses.

Not for: writing it (the controller), deciding health.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from propagate import manifest

Obj = dict[str, Any]

COUNTS: dict[str, tuple[str, ...]] = {
    "Deployment": ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                   "unavailableReplicas"),
    "ReplicaSet": ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"),
    "StatefulSet": ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas",
                    "availableReplicas"),
    "DaemonSet": ("currentNumberScheduled", "desiredNumberScheduled", "numberAvailable",
                  "numberMisscheduled", "numberReady", "updatedNumberScheduled",
                  "numberUnavailable"),
    "Job": ("active", "succeeded", "failed", "ready", "terminating"),
}
GENERATIONAL = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})
BALANCED = frozenset({"Service", "Ingress"})


def _generation(obj: Obj | None) -> int:
    value = ((obj or {}).get("metadata") or {}).get("generation")
    return value if isinstance(value, int) else 0


def caught_up(copy: Obj | None, generation: int, generational: bool = True) -> bool:
    """The member's copy carries the template's ``generation`` and (for kinds with
    an observedGeneration) its controller has observed the copy's own generation."""
    if copy is None:
        return False
    if manifest.notes_of(copy).get(manifest.GENERATION) != str(generation):
        return False
    if not generational:
        return True
    observed = (copy.get("status") or {}).get("observedGeneration")
    return isinstance(observed, int) and observed >= _generation(copy)


def _conditions(copies: Mapping[str, Obj | None]) -> list[Obj]:
    by_type: dict[str, dict[str, Obj]] = {}
    for member in sorted(copies):
        for given in ((copies[member] or {}).get("status") or {}).get("conditions") or []:
            if isinstance(given, dict) and given.get("type"):
                by_type.setdefault(str(given["type"]), {})[member] = given
    merged = []
    for type_, seen in by_type.items():
        states = [str(seen[m].get("status", "Unknown")) if m in seen else "Unknown"
                  for m in sorted(copies)]
        if all(s == "True" for s in states):
            status = "True"
        elif "False" in states:
            status = "False"
        else:
            status = "Unknown"
        # the members that hold it back name themselves in the message
        odd = [m for m, s in zip(sorted(copies), states, strict=True) if s != "True"]
        first = next((seen[m] for m in odd if m in seen), next(iter(seen.values())))
        if odd:
            message = "; ".join(f"{m}: {(seen.get(m) or {}).get('message') or 'no condition'}"
                                for m in odd)
        else:
            message = str(first.get("message", ""))
        cond: Obj = {"type": type_, "status": status, "reason": first.get("reason", ""),
                     "message": message}
        times = [str(c[f]) for c in seen.values() for f in ("lastTransitionTime",)
                 if c.get(f)]
        if times:
            cond["lastTransitionTime"] = max(times)
        updates = [str(c["lastUpdateTime"]) for c in seen.values() if c.get("lastUpdateTime")]
        if updates:
            cond["lastUpdateTime"] = max(updates)
        merged.append(cond)
    return merged


def _ingress(copies: Mapping[str, Obj | None]) -> list[Obj]:
    seen: dict[tuple[str, str], Obj] = {}
    for member in sorted(copies):
        lb = ((copies[member] or {}).get("status") or {}).get("loadBalancer") or {}
        for entry in lb.get("ingress") or []:
            if isinstance(entry, dict):
                seen.setdefault((str(entry.get("ip", "")), str(entry.get("hostname", ""))),
                                entry)
    return [seen[k] for k in sorted(seen)]


def aggregate(template: Obj, copies: Mapping[str, Obj | None]) -> Obj | None:
    """The template's status from its placed members' copies (see the module
    docstring); None for a kind whose status fedns does not aggregate."""
    kind = str(template.get("kind", ""))
    previous = template.get("status") or {}
    if kind in BALANCED:
        balanced = dict(previous)
        ingress = _ingress(copies)
        balanced["loadBalancer"] = {"ingress": ingress} if ingress else {}
        return balanced
    counts = COUNTS.get(kind)
    if counts is None:
        return None
    status: Obj = {}
    for field in counts:
        values = [((c or {}).get("status") or {}).get(field) for c in copies.values()]
        numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if numbers:
            status[field] = sum(numbers)
    if kind in GENERATIONAL:
        generation = _generation(template)
        if copies and all(caught_up(c, generation) for c in copies.values()):
            status["observedGeneration"] = generation
        elif isinstance(previous.get("observedGeneration"), int):
            status["observedGeneration"] = previous["observedGeneration"]
    if kind == "Job":
        starts = [str(((c or {}).get("status") or {}).get("startTime") or "")
                  for c in copies.values()]
        if any(starts):
            status["startTime"] = min(s for s in starts if s)
        ends = [str(((c or {}).get("status") or {}).get("completionTime") or "")
                for c in copies.values()]
        if copies and all(ends):
            status["completionTime"] = max(ends)
    conditions = _conditions(copies)
    if conditions:
        status["conditions"] = conditions
    return status
