"""What goes to a member first: Namespaces before what lives in them, then the objects
workloads refer to, then workloads, then what points at workloads.

``rank(kind)`` orders kinds as Helm installs them (a subset: the kinds the endpoint
serves); ``sort_keys`` orders ``(group/kind, namespace, name)`` keys by it;
``waits_for_namespace`` says whether an object must wait for its namespace in a
member.  Not for: ordering within a kind (by name, for stable output).
"""

from __future__ import annotations

from collections.abc import Iterable

# Helm's InstallOrder, the kinds fedns propagates
ORDER = ("Namespace", "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim",
         "Role", "RoleBinding", "Service", "DaemonSet", "ReplicaSet", "Deployment",
         "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "Ingress")
_RANK = {kind: i for i, kind in enumerate(ORDER)}

# namespaces every cluster has: never propagated, never waited for
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

Key = tuple[str, str, str]


def kind_of(group_kind: str) -> str:
    """``apps/Deployment`` -> ``Deployment``; ``Namespace`` -> ``Namespace``."""
    return group_kind.rpartition("/")[2]


def rank(kind: str) -> int:
    """Lower goes first; kinds not listed go after every listed one."""
    return _RANK.get(kind, len(ORDER))


def sort_keys(keys: Iterable[Key]) -> list[Key]:
    return sorted(keys, key=lambda k: (rank(kind_of(k[0])), k[1], k[2], k[0]))


def waits_for_namespace(namespace: str, present: Iterable[str]) -> bool:
    """True when an object of ``namespace`` cannot be written to a member yet: the
    namespace is neither a system one nor among the member's ``present`` ones."""
    if not namespace or namespace in SYSTEM_NAMESPACES:
        return False
    return namespace not in set(present)
