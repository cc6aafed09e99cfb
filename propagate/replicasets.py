"""The ReplicaSet the federation endpoint keeps for each Deployment template, as a
Deployment controller would: what it looks like and what its status sums.

Helm 3's ``--wait`` (like ``kubectl rollout history``) looks for the Deployment's
current ReplicaSet: one controlled by it (an ownerReference with its uid and
``controller: true``), matched by its selector, whose pod template equals the
Deployment's but for the ``pod-template-hash`` label.  ``desired(deployment)`` builds
that ReplicaSet (``<deployment>-<hash>``, labelled managed by fedns); its status is the
sum of the members' current ReplicaSets of the copies (``member_current``,
``summed``).  ``kept(obj)`` tells such a ReplicaSet apart from a ReplicaSet template a
team posted: it is never propagated.  Not for: reading or writing anything
(:mod:`fedns.controller.endpointrs`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "fedns"
COUNTS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
# Kubernetes' rendering of a hash in names: no vowels, no look-alike digits
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _meta(obj: Obj | None) -> Obj:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _without_hash(template: Any) -> Any:
    if not isinstance(template, dict):
        return template
    out = copy.deepcopy(template)
    labels = _meta(out).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
        if not labels:
            del out["metadata"]["labels"]
    if isinstance(out.get("metadata"), dict) and not out["metadata"]:
        del out["metadata"]
    return out


def same_template(a: Any, b: Any) -> bool:
    """The two pod templates are equal but for the ``pod-template-hash`` label."""
    return bool(_without_hash(a) == _without_hash(b))


def template_hash(template: Any) -> str:
    """A short stable hash of the pod template (FNV-1a, 32 bit, over its canonical
    JSON without the hash label), spelled with :data:`ALPHABET`."""
    data = json.dumps(_without_hash(template), sort_keys=True, separators=(",", ":"))
    value = 0x811C9DC5
    for byte in data.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    out = ""
    while True:
        value, digit = divmod(value, len(ALPHABET))
        out += ALPHABET[digit]
        if not value:
            return out


def controller_of(obj: Obj | None) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def kept(obj: Obj | None) -> bool:
    """A ReplicaSet the endpoint keeps for a Deployment (managed by fedns, controlled
    by a Deployment): it stays at the endpoint."""
    ref = controller_of(obj)
    labels = _meta(obj).get("labels") or {}
    return (bool(obj) and (obj or {}).get("kind") == "ReplicaSet" and ref is not None
            and ref.get("kind") == "Deployment" and labels.get(MANAGED_BY_LABEL) == MANAGED_BY)


def desired(deployment: Obj) -> Obj:
    """The endpoint's ReplicaSet for ``deployment`` (no status)."""
    meta = _meta(deployment)
    spec = deployment.get("spec") or {}
    digest = template_hash(spec.get("template"))
    template = copy.deepcopy(spec.get("template") or {})
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}),
                                      HASH_LABEL: digest}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: digest}
    labels = {**(template["metadata"]["labels"]), MANAGED_BY_LABEL: MANAGED_BY}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{digest}", "namespace": meta.get("namespace", ""),
            "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": meta["name"], "uid": meta.get("uid", ""),
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {"replicas": spec.get("replicas", 1), "selector": selector,
                 "minReadySeconds": spec.get("minReadySeconds", 0), "template": template},
    }


def member_current(copy_: Obj | None, replica_sets: Iterable[Obj]) -> list[Obj]:
    """The member's ReplicaSets controlled by its copy whose template is the copy's."""
    if not copy_:
        return []
    uid = _meta(copy_).get("uid")
    template = (copy_.get("spec") or {}).get("template")
    found = []
    for rs in replica_sets:
        ref = controller_of(rs)
        if ref is None or ref.get("kind") != "Deployment" or ref.get("uid") != uid:
            continue
        if same_template((rs.get("spec") or {}).get("template"), template):
            found.append(rs)
    return found


def summed(replica_set: Obj, members: Iterable[Obj]) -> Obj:
    """The endpoint ReplicaSet's status: the members' counts summed, its own
    generation observed."""
    status: Obj = dict.fromkeys(COUNTS, 0)
    for rs in members:
        for field in COUNTS:
            value = (rs.get("status") or {}).get(field)
            if isinstance(value, int) and not isinstance(value, bool):
                status[field] += value
    generation = _meta(replica_set).get("generation")
    if isinstance(generation, int):
        status["observedGeneration"] = generation
    return status
