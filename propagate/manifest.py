"""A template at the federation endpoint -> the manifest one member gets.

``build(template, shares=None)`` copies the template without what the endpoint's
server owns (uid, resourceVersion, managedFields, creationTimestamp, generation,
finalizers, ownerReferences, status; a Service's cluster IPs and node ports; a Job's
generated selector) and without fedns's own template annotations, then stamps the
managed-by label, the template's generation (:data:`GENERATION`) and a hash of the
result (:data:`HASH`).  ``needs_update(manifest, live)`` compares that hash with the
member's copy, so an unchanged template costs no write.  ``propagated(template)``
says which templates stay at the endpoint (Helm's release Secrets, Events, the
system namespaces, the ReplicaSets kept for Deployments).  Not for: sending anything; which members (the controller).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from propagate import divide, jobs, order, override, replicasets

Obj = dict[str, Any]

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "fedns"
PREFIX = "fedns.io/"
GENERATION = "fedns.io/template-generation"  # on copies: the template generation they carry
HASH = "fedns.io/manifest-hash"  # on copies: the hash of the manifest last applied
ORPHANED = "fedns.io/orphaned"  # on copies: left behind on purpose by a deleted template
ADOPT = "fedns.io/adopt"  # on templates: "true" takes over unmanaged objects in members
ORPHAN = "fedns.io/orphan"  # on templates: "true" keeps the copies when it is deleted
MEMBERS = "fedns.io/members"  # on templates: per-member outcome (see propagate.outcome)
HELM_RELEASE = "helm.sh/release.v1"

SERVER_META = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation",
               "ownerReferences", "finalizers", "selfLink", "deletionTimestamp",
               "deletionGracePeriodSeconds")
# client-side apply's record of the endpoint's object: meaningless in a member
DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
REPLICATED_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet"})
# labels a Job's controller generates from the Job's uid (kube-apiserver adds them)
JOB_GENERATED = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
                 "batch.kubernetes.io/job-name")


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def notes_of(obj: Obj | None) -> dict[str, str]:
    return dict(_meta(obj or {}).get("annotations") or {})


def is_true(obj: Obj | None, annotation: str) -> bool:
    return str(notes_of(obj).get(annotation, "")).lower() == "true"


def is_managed(obj: Obj | None) -> bool:
    """The object carries fedns's managed-by label."""
    return (_meta(obj or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY


def is_copy(obj: Obj | None) -> bool:
    """The object is a member copy of a template: managed and stamped with its
    generation (other fedns-managed objects are not propagation's)."""
    return is_managed(obj) and GENERATION in notes_of(obj)


def propagated(template: Obj) -> bool:
    """False for what stays at the endpoint: Helm's release Secrets (the release
    is the endpoint's), Events, and the namespaces every cluster has."""
    kind = template.get("kind")
    if kind == "Secret" and template.get("type") == HELM_RELEASE:
        return False
    if kind == "Event" or replicasets.kept(template):  # the endpoint's own ReplicaSets
        return False
    return not (kind == "Namespace" and _meta(template).get("name") in order.SYSTEM_NAMESPACES)


def _strip_service(spec: Obj) -> None:
    for field in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
        spec.pop(field, None)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.pop("nodePort", None)


def _strip_job(spec: Obj) -> None:
    if spec.get("manualSelector"):
        return
    spec.pop("selector", None)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        for label in JOB_GENERATED:
            labels.pop(label, None)


def digest(manifest: Obj) -> str:
    """A short, stable hash of ``manifest`` (keys sorted, no spaces)."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build(template: Obj, shares: Mapping[str, int] | None = None,
          operations: Sequence[Obj] = ()) -> Obj:
    """The manifest of ``template`` for one member; ``shares`` replaces spec fields
    with the member's share of them (``{"replicas": 2}``, see :func:`totals`).  An
    autoscaler's share keeps ``1 <= minReplicas <= maxReplicas``, as its schema needs.
    ``operations`` (:mod:`propagate.override`) change the copy last (OverrideFailed
    when one does not fit)."""
    body = copy.deepcopy(template)
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    for key in SERVER_META:
        meta.pop(key, None)
    notes = {k: v for k, v in (meta.get("annotations") or {}).items()
             if not k.startswith(PREFIX) and k not in DROPPED_ANNOTATIONS}
    notes[GENERATION] = str(_meta(template).get("generation") or 0)
    meta["annotations"] = notes
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY}
    spec = body.get("spec")
    if isinstance(spec, dict):
        if body.get("kind") == "Service":
            _strip_service(spec)
        elif body.get("kind") == "Job":
            _strip_job(spec)
        spec.update(shares or {})
        if body.get("kind") == "HorizontalPodAutoscaler" and shares:
            spec["minReplicas"] = max(1, int(spec.get("minReplicas") or 1))
            spec["maxReplicas"] = max(spec["minReplicas"], int(spec.get("maxReplicas") or 1))
    if operations:
        body = override.apply(body, operations)
        notes = body.setdefault("metadata", {}).setdefault("annotations", {})
    notes[HASH] = digest(body)
    return body


def covers(live: Any, wanted: Any) -> bool:
    """True when ``live`` holds everything ``wanted`` says: mappings may have more keys
    (what the member's server defaulted), lists must match element by element."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(k in live and covers(live[k], v)
                                              for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and \
            all(covers(a, b) for a, b in zip(live, wanted, strict=True))
    return bool(live == wanted)


def needs_update(manifest: Obj, live: Obj | None) -> bool:
    """True unless the member's copy ``live`` was applied from this same manifest (by
    its hash), is still fedns's, and nobody changed what the manifest sets (an image
    edited in the member is set back; its replicas count is left to the member's
    autoscaler until the template changes)."""
    if live is None or not is_managed(live):
        return True
    have = notes_of(live)
    if have.get(HASH) != notes_of(manifest).get(HASH) or ORPHANED in have:
        return True
    wanted = manifest
    if isinstance(manifest.get("spec"), dict) and "replicas" in manifest["spec"]:
        # a member's autoscaler may own its copy's replicas: only a new template
        # sets them again
        wanted = {**manifest, "spec": {k: v for k, v in manifest["spec"].items()
                                       if k != "replicas"}}
    return not covers(live, wanted)


def _count(spec: Obj, field: str, default: int) -> int:
    value = spec.get(field, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def totals(template: Obj) -> dict[str, Any]:
    """The spec fields divided over the members, with the template's totals:
    ``replicas`` of a Deployment, ReplicaSet or StatefulSet (1 when unset, as
    kube-apiserver defaults it), ``minReplicas`` and ``maxReplicas`` of a
    HorizontalPodAutoscaler, ``completions`` and ``parallelism`` of a Job
    (:mod:`propagate.jobs`); nothing for other kinds.  A Job's values are as given
    (the caller refuses ones that are not non-negative integers)."""
    spec = template.get("spec") or {}
    if template.get("kind") in REPLICATED_KINDS:
        return {"replicas": _count(spec, "replicas", 1)}
    if template.get("kind") == "HorizontalPodAutoscaler":
        return {"minReplicas": _count(spec, "minReplicas", 1),
                "maxReplicas": _count(spec, "maxReplicas", 1)}
    if template.get("kind") == "Job":
        return jobs.totals(template)
    return {}


def placed(template: Obj) -> str | None:
    """The one field of :func:`totals` that placement divides (its Webster division,
    weights, min/max and failover apply to it): ``replicas``, a Job's
    ``completions`` (``parallelism`` for a work-queue Job); None when placement only
    chooses members."""
    if template.get("kind") in REPLICATED_KINDS:
        return "replicas"
    if template.get("kind") == "Job":
        return jobs.placed(template)
    return None


def shares(template: Obj, division: Mapping[str, int], members: Sequence[str],
           key: str) -> dict[str, dict[str, int]]:
    """``member -> {field: share}`` for :func:`build`, from placement's ``division``
    of the :func:`placed` field over ``members``: that field's share, a Job's
    parallelism with its completions (:func:`propagate.jobs.shares`), an autoscaler's
    bounds divided evenly over ``members`` (:func:`propagate.divide.divide`)."""
    out: dict[str, dict[str, int]] = {m: {} for m in members}
    field = placed(template)
    if template.get("kind") == "Job" and field is not None:
        for member, fields in jobs.shares(template, {m: division.get(m, 0) for m in members},
                                          key).items():
            out[member].update(fields)
        return out
    for member, n in division.items():
        if field is not None and member in out:
            out[member][field] = n
    for name, total in totals(template).items():
        if name == field:
            continue
        for member, n in divide.divide(total, list(members), key).items():
            out[member][name] = n
    return out


def orphaned(live: Obj) -> Obj:
    """What to apply to leave ``live`` behind: the copy as it is, marked orphaned."""
    body = copy.deepcopy(live)
    body.pop("status", None)
    meta = body.setdefault("metadata", {})
    for key in SERVER_META:
        meta.pop(key, None)
    meta["annotations"] = {**(meta.get("annotations") or {}), ORPHANED: "true"}
    return body
