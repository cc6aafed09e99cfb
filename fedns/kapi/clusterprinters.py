"""Table printers of the account, storage, RBAC and policy kinds (ServiceAccount,
PersistentVolumeClaim, PersistentVolume, StorageClass, Role(Binding),
ClusterRole(Binding), NetworkPolicy, PodDisruptionBudget, CustomResourceDefinition).

Columns and cells follow kube-apiserver's ``pkg/printers/internalversion/printers.go``;
kinds without a printer there (Roles, ClusterRoles, CRDs) get the default table
convertor's ``Name`` and ``Created At``.  Pure.
"""

from __future__ import annotations

import datetime
from typing import Any

from fedns.kapi import selectors, tables
from fedns.kapi.tables import AGE, NAME, Column, Printer, age, meta

Obj = dict[str, Any]
Now = datetime.datetime

_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
          "ReadWriteOncePod": "RWOP"}
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def _name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def _age(obj: Obj, now: Now) -> str:
    return age(meta(obj).get("creationTimestamp"), now)


def access_modes(modes: list[str] | None) -> str:
    """``helper.GetAccessModesAsString``: RWO,ROX,RWX,RWOP in that order, deduplicated."""
    given = set(modes or [])
    return ",".join(short for mode, short in _MODES.items() if mode in given)


# -- default convertor ---------------------------------------------------------

CREATED_AT = Column("Created At", type="date", description="CreationTimestamp is a timestamp "
                    "representing the server time when this object was created.")


def _created_row(obj: Obj, now: Now) -> tables.Cells:
    return [_name(obj), meta(obj).get("creationTimestamp") or ""]


CREATED = Printer((NAME, CREATED_AT), _created_row)


# -- ServiceAccount ----------------------------------------------------------------

SERVICE_ACCOUNT = Printer(
    (NAME, Column("Secrets", "integer"), AGE),
    lambda obj, now: [_name(obj), len(obj.get("secrets") or []), _age(obj, now)])


# -- storage ------------------------------------------------------------------------

def _claim_row(obj: Obj, now: Now) -> tables.Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = status.get("phase") or ""
    if meta(obj).get("deletionTimestamp"):
        phase = "Terminating"
    bound = bool(spec.get("volumeName"))  # printers.go: capacity once a volume is named
    capacity = str((status.get("capacity") or {}).get("storage", "")) if bound else ""
    modes = access_modes(status.get("accessModes")) if bound else ""
    return [_name(obj), phase, spec.get("volumeName") or "", capacity, modes,
            spec.get("storageClassName") or "<unset>",
            spec.get("volumeAttributesClassName") or "<unset>", _age(obj, now),
            spec.get("volumeMode") or "<unset>"]


PERSISTENT_VOLUME_CLAIM = Printer(
    (NAME, Column("Status"), Column("Volume"), Column("Capacity"), Column("Access Modes"),
     Column("StorageClass"), Column("VolumeAttributesClass"), AGE,
     Column("VolumeMode", priority=1)), _claim_row)


def _volume_row(obj: Obj, now: Now) -> tables.Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    phase = status.get("phase") or ""
    if meta(obj).get("deletionTimestamp"):
        phase = "Terminating"
    return [_name(obj), str((spec.get("capacity") or {}).get("storage", "")),
            access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy") or "", phase, claim_text,
            spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or
            "<unset>", status.get("reason") or "", _age(obj, now),
            spec.get("volumeMode") or "<unset>"]


PERSISTENT_VOLUME = Printer(
    (NAME, Column("Capacity"), Column("Access Modes"), Column("Reclaim Policy"),
     Column("Status"), Column("Claim"), Column("StorageClass"), Column("VolumeAttributesClass"),
     Column("Reason"), AGE, Column("VolumeMode", priority=1)), _volume_row)


def _class_row(obj: Obj, now: Now) -> tables.Cells:
    name = _name(obj)
    if (meta(obj).get("annotations") or {}).get(DEFAULT_CLASS) == "true":
        name += " (default)"
    return [name, obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate",
            "true" if obj.get("allowVolumeExpansion") else "false", _age(obj, now)]


STORAGE_CLASS = Printer(
    (NAME, Column("Provisioner"), Column("ReclaimPolicy"), Column("VolumeBindingMode"),
     Column("AllowVolumeExpansion"), AGE), _class_row)


# -- RBAC ---------------------------------------------------------------------------

def _subjects(obj: Obj, kind: str) -> str:
    names = []
    for subject in obj.get("subjects") or []:
        if subject.get("kind") != kind:
            continue
        if kind == "ServiceAccount":
            names.append(f"{subject.get('namespace', '')}/{subject.get('name', '')}")
        else:
            names.append(str(subject.get("name", "")))
    return ", ".join(names)


def _binding_row(obj: Obj, now: Now) -> tables.Cells:
    ref = obj.get("roleRef") or {}
    return [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj, now),
            _subjects(obj, "User"), _subjects(obj, "Group"),
            _subjects(obj, "ServiceAccount")]


BINDING = Printer(
    (NAME, Column("Role"), AGE, Column("Users", priority=1), Column("Groups", priority=1),
     Column("ServiceAccounts", priority=1)), _binding_row)


# -- policy ---------------------------------------------------------------------------

NETWORK_POLICY = Printer(
    (NAME, Column("Pod-Selector"), AGE),
    lambda obj, now: [_name(obj), selectors.format_label_selector(
        (obj.get("spec") or {}).get("podSelector") or {}), _age(obj, now)])


def _budget_row(obj: Obj, now: Now) -> tables.Cells:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    low = spec.get("minAvailable")
    high = spec.get("maxUnavailable")
    return [_name(obj), "N/A" if low is None else str(low),
            "N/A" if high is None else str(high), int(status.get("disruptionsAllowed") or 0),
            _age(obj, now)]


POD_DISRUPTION_BUDGET = Printer(
    (NAME, Column("Min Available"), Column("Max Unavailable"),
     Column("Allowed Disruptions", "integer"), AGE), _budget_row)
