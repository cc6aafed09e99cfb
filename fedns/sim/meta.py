"""Object helpers the simulated controllers share: keys, owner references, label
selectors, conditions and Pod states, as kube-controller-manager reads them.

Pure (no I/O, no clock but the timestamps callers pass in).  Not a client: reading
and writing objects is :mod:`fedns.sim.runtime`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects

TERMINAL = ("Succeeded", "Failed")


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def key(obj: Obj) -> Key:
    m = meta(obj)
    return str(m.get("namespace") or ""), str(m.get("name") or "")


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def version(obj: Obj | None) -> int:
    if not obj:
        return 0
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


def labels(obj: Obj) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def annotations_of(obj: Obj) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


def deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def owner_refs(obj: Obj) -> list[Obj]:
    return [r for r in meta(obj).get("ownerReferences") or [] if isinstance(r, dict)]


def controller_ref(obj: Obj) -> Obj | None:
    for ref in owner_refs(obj):
        if ref.get("controller"):
            return ref
    return None


def controller_uid(obj: Obj) -> str:
    ref = controller_ref(obj)
    return str(ref.get("uid") or "") if ref else ""


def owner_ref(owner: Obj, *, controller: bool = True) -> Obj:
    """The ownerReference a controller puts on what it makes (blockOwnerDeletion, so a
    foreground delete of the owner waits for it)."""
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": meta(owner).get("name", ""), "uid": uid(owner),
            "controller": controller, "blockOwnerDeletion": True}


# -- label selectors -----------------------------------------------------------

def selector_matches(selector: Obj | None, have: dict[str, str] | None) -> bool:
    """metav1.LabelSelector semantics; an empty or missing selector matches nothing,
    as controllers treat it."""
    if not isinstance(selector, dict):
        return False
    match = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match and not expressions:
        return False
    have = have or {}
    for name, value in match.items():
        if have.get(name) != value:
            return False
    for expression in expressions:
        name, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and have.get(name) not in values:
            return False
        if operator == "NotIn" and name in have and have[name] in values:
            return False
        if operator == "Exists" and name not in have:
            return False
        if operator == "DoesNotExist" and name in have:
            return False
    return True


def map_matches(wanted: dict[str, str] | None, have: dict[str, str] | None) -> bool:
    """A plain map selector (Service spec.selector, nodeSelector): every pair present.
    An empty map matches everything."""
    have = have or {}
    return all(have.get(k) == v for k, v in (wanted or {}).items())


class PairIndex:
    """Keys by the label pairs they are filed under, per namespace: which Pods carry
    ``app=web``, which Services select on it, without looking at every one."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str], set[Key]] = {}
        self._filed: dict[Key, list[tuple[str, str, str]]] = {}

    def put(self, key: Key, namespace: str, pairs: Iterable[tuple[str, str]]) -> None:
        self.drop(key)
        filed = [(namespace, k, v) for k, v in pairs]
        for entry in filed:
            self._keys.setdefault(entry, set()).add(key)
        if filed:
            self._filed[key] = filed

    def drop(self, key: Key) -> None:
        for entry in self._filed.pop(key, ()):
            keys = self._keys.get(entry)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys[entry]

    def find(self, namespace: str, pairs: Iterable[tuple[str, str]]) -> set[Key]:
        """The keys filed under any of ``pairs`` in ``namespace``."""
        found: set[Key] = set()
        for k, v in pairs:
            found |= self._keys.get((namespace, k, v), set())
        return found


# -- conditions --------------------------------------------------------------

def condition(obj: Obj, kind: str) -> Obj | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def set_condition(conditions: list[Obj], kind: str, status: str, reason: str,
                  message: str, now: str, *, heartbeat: str = "") -> list[Obj]:
    """``conditions`` with ``kind`` set; lastTransitionTime moves only when the status
    flips.  ``heartbeat`` names the extra time field the kind carries
    (``lastUpdateTime`` for Deployments, ``lastProbeTime`` for Pods and Jobs)."""
    result = [dict(c) for c in conditions]
    for item in result:
        if item.get("type") == kind:
            if item.get("status") != status:
                item["lastTransitionTime"] = now
            if heartbeat and (item.get("status") != status or item.get("reason") != reason
                              or item.get("message") != message):
                item[heartbeat] = now
            item.update(status=status, reason=reason, message=message)
            return result
    new: Obj = {"type": kind, "status": status}
    if heartbeat:
        new[heartbeat] = now
    new.update(lastTransitionTime=now, reason=reason, message=message)
    result.append(new)
    return result


# -- Pods --------------------------------------------------------------------

def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_ready(pod: Obj) -> bool:
    found = condition(pod, "Ready")
    return bool(found and found.get("status") == "True")


def pod_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return pod_phase(pod) not in TERMINAL and not deleting(pod)


def pod_ready_since(pod: Obj) -> str:
    found = condition(pod, "Ready")
    return str(found.get("lastTransitionTime") or "") if found else ""


def template_equal(a: Obj | None, b: Obj | None, ignore: str = "pod-template-hash") -> bool:
    """Pod templates equal but for the ``ignore`` label (deploymentutil.EqualIgnoreHash)."""
    return _without_label(a, ignore) == _without_label(b, ignore)


def _without_label(template: Obj | None, name: str) -> str:
    template = dict(template or {})
    metadata = dict(template.get("metadata") or {})
    found = dict(metadata.get("labels") or {})
    found.pop(name, None)
    if found:
        metadata["labels"] = found
    else:
        metadata.pop("labels", None)
    metadata.pop("creationTimestamp", None)
    if metadata:
        template["metadata"] = metadata
    else:
        template.pop("metadata", None)
    return json.dumps(template, sort_keys=True)


_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery rand.SafeEncodeString's alphabet


def template_hash(template: Obj | None, collisions: int = 0) -> str:
    """A pod-template-hash: FNV-1a (32 bit) of the template, and the collision count
    when there is one, written in the safe alphabet (no vowels, no 0/1/3), as
    controller.ComputeHash does."""
    data = _without_label(template, "pod-template-hash").encode()
    if collisions:
        data += str(collisions).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(value))
