"""The federation endpoint's templates: which built-in kinds the appliance API serves
for teams to post once, and the member resource each one is propagated as.

The endpoint is the appliance API itself (same ``api.listen``, token and TLS): next to
the ``fedns.io`` kinds it serves these built-in kinds, stored in the appliance Store
under ``/registry/`` so that every replica serves the same templates.  The propagation
controller (:mod:`fedns.controller.propagation`) copies them to the members.  Kinds
that a newer :mod:`fedns.kapi.builtin` adds (ServiceAccount, StatefulSet, CronJob) are
served as soon as it has them.  Not for: what the copies look like (``propagate``).
"""

from __future__ import annotations

from fedns.kapi import builtin, registry
from fedns.kapi import status as kapi_status
from fedns.kapi import storage as kapi_storage
from fedns.members import kinds as member_kinds

# (group, plural) of the built-in kinds served as templates, in the order the seed's
# Federation v1 listed them; Events are served (kubectl describe reads them; the members'
# are listed beside them, fedns.api.events) but stay
# at the endpoint
SERVED = (("", "namespaces"), ("", "configmaps"), ("", "secrets"), ("", "serviceaccounts"),
          ("apps", "daemonsets"), ("apps", "deployments"), ("apps", "replicasets"),
          ("apps", "statefulsets"), ("", "events"), ("autoscaling", "horizontalpodautoscalers"),
          ("networking.k8s.io", "ingresses"), ("batch", "jobs"), ("batch", "cronjobs"),
          ("", "services"))
LOCAL = frozenset({("", "events")})  # served, never propagated
# present at the endpoint from the start, as in every cluster; never propagated
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def kinds() -> list[registry.Kind]:
    """The template kinds the built-in registry has (one Kind per (group, plural), the
    version it serves)."""
    found = []
    for kind in builtin.registry().kinds():
        if (kind.group, kind.plural) in SERVED:
            found.append(kind)
    return found


def propagated(kinds_: list[registry.Kind]) -> dict[registry.Kind, member_kinds.Resource]:
    """The kinds among ``kinds_`` copied to members, with their member resource."""
    out = {}
    for kind in kinds_:
        if (kind.group, kind.plural) in LOCAL:
            continue
        out[kind] = member_kinds.Resource(kind.group, kind.version, kind.plural, kind.kind,
                                          kind.namespaced)
    return out


def group_kind(kind: registry.Kind) -> str:
    """``apps/Deployment``; ``Namespace`` for the core group (a propagation key's first
    part)."""
    return f"{kind.group}/{kind.kind}" if kind.group else kind.kind


async def seed(storage: kapi_storage.Storage) -> list[str]:
    """Create the system namespaces at the endpoint where they are missing; returns
    the names created.  Every replica may call it: creating one that exists is a 409."""
    ns_kind = storage.registry.lookup("", "v1", "namespaces")
    if ns_kind is None:
        return []
    created = []
    for name in SYSTEM_NAMESPACES:
        try:
            await storage.create(ns_kind, "", {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except kapi_status.ApiError as err:
            if err.code != 409:
                raise
            continue
        created.append(name)
    return created
