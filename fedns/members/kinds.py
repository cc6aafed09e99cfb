"""Kubernetes resources by group, version and plural: their REST paths, and the well-known ones.

A :class:`Resource` is what a REST path needs (group, version, plural, whether it is
namespaced) plus the ``kind`` its objects carry.  The constants name the kinds fedns
watches (Service, EndpointSlice, Node, Namespace) and the common workload kinds the
propagation controller writes; :func:`for_kind` finds one of them from an object's
``apiVersion`` and ``kind``.  Other kinds (custom resources) are found through the
member's discovery documents, by :mod:`fedns.members.objects`, not here.

Pure: no I/O, no client.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote


@dataclasses.dataclass(frozen=True)
class Resource:
    """One resource of a member's API, e.g. ``Resource("apps", "v1", "deployments",
    "Deployment", namespaced=True)``; ``group`` is "" for the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, else ``group/version``, as objects carry it."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "") -> str:
        """The collection: every namespace's objects when ``namespace`` is "", else that
        namespace's (a namespaced resource only)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if not namespace:
            return f"{root}/{self.plural}"
        if not self.namespaced:
            raise ValueError(f"{self.kind} is not namespaced: no namespace {namespace!r}")
        return f"{root}/namespaces/{_segment(namespace)}/{self.plural}"

    def object_path(self, namespace: str, name: str) -> str:
        """One object's path; ``namespace`` is required for a namespaced resource and
        must be "" for a cluster-scoped one."""
        if not name:
            raise ValueError(f"{self.kind}: an object path needs a name")
        if self.namespaced and not namespace:
            raise ValueError(f"{self.kind} {name!r} is namespaced: a namespace is required")
        return f"{self.path(namespace)}/{_segment(name)}"

    def describe(self, namespace: str, name: str) -> str:
        """``ConfigMap default/web`` or ``Namespace team-a``, for messages."""
        return f"{self.kind} {namespace}/{name}" if namespace else f"{self.kind} {name}"


def _segment(text: str) -> str:
    # names are DNS labels or subdomains in practice; quoting keeps any other text
    # inside its one path segment
    return quote(text, safe="")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ("apps", "v1"); ``v1`` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


# the kinds fedns follows in every member
SERVICE = Resource("", "v1", "services", "Service")
ENDPOINT_SLICE = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
NODE = Resource("", "v1", "nodes", "Node", namespaced=False)
NAMESPACE = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
# what fedns writes: events, and the kinds a federated workload is made of
EVENT = Resource("", "v1", "events", "Event")
CONFIG_MAP = Resource("", "v1", "configmaps", "ConfigMap")
SECRET = Resource("", "v1", "secrets", "Secret")
SERVICE_ACCOUNT = Resource("", "v1", "serviceaccounts", "ServiceAccount")
PERSISTENT_VOLUME_CLAIM = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
POD = Resource("", "v1", "pods", "Pod")
DEPLOYMENT = Resource("apps", "v1", "deployments", "Deployment")
STATEFUL_SET = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMON_SET = Resource("apps", "v1", "daemonsets", "DaemonSet")
REPLICA_SET = Resource("apps", "v1", "replicasets", "ReplicaSet")
JOB = Resource("batch", "v1", "jobs", "Job")
CRON_JOB = Resource("batch", "v1", "cronjobs", "CronJob")
HORIZONTAL_POD_AUTOSCALER = Resource("autoscaling", "v2", "horizontalpodautoscalers",
                                     "HorizontalPodAutoscaler")
INGRESS = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
NETWORK_POLICY = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
POD_DISRUPTION_BUDGET = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
ROLE = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDING = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")

WELL_KNOWN: tuple[Resource, ...] = (
    SERVICE, ENDPOINT_SLICE, NODE, NAMESPACE, EVENT, CONFIG_MAP, SECRET, SERVICE_ACCOUNT,
    PERSISTENT_VOLUME_CLAIM, POD, DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, JOB,
    CRON_JOB, HORIZONTAL_POD_AUTOSCALER, INGRESS, NETWORK_POLICY, POD_DISRUPTION_BUDGET, ROLE,
    ROLE_BINDING)
_BY_KIND = {(r.api_version, r.kind): r for r in WELL_KNOWN}


def for_kind(api_version: str, kind: str) -> Resource | None:
    """The well-known resource of objects with this ``apiVersion`` and ``kind``, or None."""
    return _BY_KIND.get((api_version, kind))


def of_object(obj: dict[str, Any]) -> tuple[str, str]:
    """An object's ``(apiVersion, kind)``; "" for either that is missing."""
    return str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
