"""The kinds of a real cluster beyond workloads and services: accounts, storage, RBAC,
network and disruption policy, CRDs and the authorization reviews.

:data:`KINDS` is added to every :func:`fedns.kapi.builtin.registry` with
kube-apiserver's short names, categories, Table columns and the defaults clients
read back (a claim or volume starts ``Pending``; a StorageClass reclaims with
``Delete`` and binds ``Immediate``).  Also here: the Secret ``stringData`` merge and
the scale subresource of the built-in workloads.  Pure.
"""

from __future__ import annotations

import base64
from typing import Any

from fedns.kapi import clusterprinters, crds, reviews
from fedns.kapi.registry import CREATE_ONLY, Kind, Scale

Obj = dict[str, Any]

WORKLOAD_SCALE = Scale()  # .spec.replicas, .status.replicas, selector from .spec.selector
SCALABLE = ("deployments", "replicasets", "statefulsets")  # in apps/v1


def merge_string_data(obj: Obj) -> None:
    """Secret ``stringData``: each key is written into ``data`` (base64), winning over
    a ``data`` key of the same name, and ``stringData`` is dropped, as kube-apiserver
    does on every write."""
    string_data = obj.pop("stringData", None)
    if not isinstance(string_data, dict) or not string_data:
        return
    data = obj.get("data")
    if not isinstance(data, dict):
        data = obj["data"] = {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()


def _pending(obj: Obj) -> None:
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def default_claim(obj: Obj) -> None:
    _pending(obj)
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")


def default_volume(obj: Obj) -> None:
    _pending(obj)
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")


def default_storage_class(obj: Obj) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def validate_binding(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    ref = new.get("roleRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return [("roleRef.name", "Required value")]
    if old is not None and old.get("roleRef") != ref:
        return [("roleRef", "Invalid value: cannot change roleRef")]
    return []


def with_scale(kind: Kind) -> Kind:
    """``kind`` serving the scale subresource when it is a scalable workload."""
    import dataclasses

    if kind.group == "apps" and kind.plural in SCALABLE and kind.scale is None:
        return dataclasses.replace(kind, scale=WORKLOAD_SCALE)
    return kind


_RBAC = "rbac.authorization.k8s.io"
_P = clusterprinters

KINDS: tuple[Kind, ...] = (
    Kind("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",),
         printer=_P.SERVICE_ACCOUNT, strategic=True),
    Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
         status=True, printer=_P.PERSISTENT_VOLUME_CLAIM, strategic=True,
         default=default_claim),
    Kind("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False,
         short_names=("pv",), status=True, printer=_P.PERSISTENT_VOLUME, strategic=True,
         default=default_volume),
    Kind("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False,
         short_names=("sc",), printer=_P.STORAGE_CLASS, strategic=True,
         default=default_storage_class),
    Kind(_RBAC, "v1", "roles", "Role", printer=_P.CREATED, strategic=True),
    Kind(_RBAC, "v1", "rolebindings", "RoleBinding", printer=_P.BINDING, strategic=True,
         validate=validate_binding),
    Kind(_RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False, printer=_P.CREATED,
         strategic=True),
    Kind(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False,
         printer=_P.BINDING, strategic=True, validate=validate_binding),
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy",
         short_names=("netpol",), printer=_P.NETWORK_POLICY, strategic=True),
    Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
         status=True, printer=_P.POD_DISRUPTION_BUDGET, strategic=True),
    Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions",
         "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
         categories=("api-extensions",), status=True, printer=_P.CREATED, strategic=True,
         default=crds.default_crd, validate=crds.validate_crd),
    Kind("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
         namespaced=False, verbs=CREATE_ONLY, review=reviews.access_review),
    Kind("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview",
         namespaced=False, verbs=CREATE_ONLY, review=reviews.rules_review),
    Kind("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview",
         namespaced=False, verbs=CREATE_ONLY, review=reviews.self_review),
)
