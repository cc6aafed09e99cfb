"""The endpoint's ReplicaSet of each Deployment template, kept by the propagation
controller: created, its status summed from the members, removed with the Deployment.

Helm 3's ``--wait`` reads a Deployment's current ReplicaSet (see
:mod:`propagate.replicasets`); the endpoint has no Deployment controller, so the
propagation controller keeps one per Deployment template: ``<deployment>-<hash>``,
owned by the template, its status the sum of the members' current ReplicaSets of the
copies.  ReplicaSets of an older pod template are deleted; all of them go when the
Deployment does.  They are never propagated.  The members' ReplicaSets that
Deployments own (label ``pod-template-hash``) are followed so that their changes
bring the Deployment's key back.  Not for: the Deployment's copies (the controller).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from fedns.kapi import objects as kapi_objects
from fedns.kapi import status as kapi_status
from fedns.members import kinds as member_kinds
from fedns.members import member as member_mod
from propagate import replicasets

log = logging.getLogger(__name__)

GROUP_KIND = "apps/Deployment"
RS_GROUP_KIND = "apps/ReplicaSet"
RESOURCE = member_kinds.Resource("apps", "v1", "replicasets", "ReplicaSet", True)
SELECTOR = replicasets.HASH_LABEL  # exists: the ReplicaSets a Deployment made


class EndpointReplicaSets:
    """Keeps the endpoint's ReplicaSets of Deployment templates."""

    def __init__(self, storage: Any, members: Mapping[str, member_mod.Member]) -> None:
        self.storage = storage
        self.members = members
        self.kind = storage.registry.lookup("apps", "v1", "replicasets")
        self.caches: dict[str, Any] = {}  # member -> informer of its Deployments' sets
        # (member, namespace, Deployment name) -> its ReplicaSets' cache keys, kept from
        # the informers' events (:meth:`observe`): a sync looks at its own, not at all
        self.sets_of: dict[tuple[str, str, str], set[str]] = {}
        # the endpoint's own ReplicaSets, from the Store's watch and these writes:
        # (namespace, Deployment name) -> ReplicaSet name -> (revision, object); read
        # in place of the Store once ``synced`` (a full list was taken in)
        self.kept: dict[tuple[str, str], dict[str, tuple[int, dict[str, Any]]]] = {}
        self.owner_of: dict[tuple[str, str], str] = {}  # (namespace, RS name) -> owner
        # deleted here, with their last revision: the watch's older news of them is stale
        self.deleted: dict[tuple[str, str], int] = {}
        # work repeated by every status-driven sync, kept by what it depends on: the
        # wanted ReplicaSet by Deployment (uid, generation); whether a member's set
        # runs its copy's template by both (uid, generation)
        self._wanted: dict[tuple[str, str], tuple[tuple[Any, Any], dict[str, Any]]] = {}
        self._same: dict[tuple[Any, ...], bool] = {}
        self.synced = False

    async def follow(self) -> None:
        """Follow every member's Deployment-made ReplicaSets (once per member)."""
        if self.kind is None:
            return
        for name, m in self.members.items():
            if name not in self.caches:
                self.caches[name] = await m.follow(RESOURCE, label_selector=SELECTOR)

    @staticmethod
    def owner(kind: str, key: str, obj: Any, old: Any) -> tuple[str, str, str] | None:
        """The Deployment key a member's ReplicaSet event concerns, if any."""
        if kind != "ReplicaSet":
            return None
        ref = replicasets.controller_of(obj or old)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        namespace = key.rpartition("/")[0]
        return (GROUP_KIND, namespace, str(ref.get("name", "")))

    def saw(self, namespace: str, name: str, revision: int,
            obj: dict[str, Any] | None) -> None:
        """The endpoint's ReplicaSet ``namespace/name`` at ``revision`` (None: deleted),
        as the Store's watch or a write of this class saw it; older news is ignored."""
        owner = self.owner_of.get((namespace, name))
        have = self.kept.get((namespace, owner), {}).get(name) if owner is not None else None
        if have is not None and have[0] >= revision:
            return
        if (namespace, name) in self.deleted:
            if revision <= self.deleted[(namespace, name)]:
                return
            del self.deleted[(namespace, name)]  # its delete, or a new one of that name
        if owner is not None:
            self._forget(namespace, name)
        if obj is None or not replicasets.kept(obj):
            return
        owner = str((replicasets.controller_of(obj) or {}).get("name", ""))
        self.owner_of[(namespace, name)] = owner
        self.kept.setdefault((namespace, owner), {})[name] = (revision, obj)

    def _forget(self, namespace: str, name: str, deleted: bool = False) -> None:
        owner = self.owner_of.pop((namespace, name), None)
        if owner is None:
            return
        sets = self.kept.get((namespace, owner), {})
        entry = sets.pop(name, None)
        if deleted and entry is not None:
            self.deleted[(namespace, name)] = entry[0]
        if not sets:
            self.kept.pop((namespace, owner), None)

    def listed(self, found: list[dict[str, Any]], revision: int) -> None:
        """A full list of the endpoint's ReplicaSets at ``revision``: what it lacks is
        gone (unless seen after it); from now on reads come from here."""
        listed = set()
        for rs in found:
            meta = rs["metadata"]
            namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
            listed.add((namespace, name))
            self.saw(namespace, name, int(meta.get("resourceVersion") or 0), rs)
        for namespace, name in list(self.owner_of):
            owner = self.owner_of[(namespace, name)]
            entry = self.kept.get((namespace, owner), {}).get(name)
            if (namespace, name) not in listed and entry is not None and entry[0] <= revision:
                self._forget(namespace, name)
        self.deleted = {k: r for k, r in self.deleted.items() if r > revision}
        self.synced = True

    def observe(self, member: str, key: str, obj: Any, old: Any) -> None:
        """A member's ReplicaSet changed: file it under the Deployment owning it."""
        namespace = key.rpartition("/")[0]
        for rs, add in ((old, False), (obj, True)):
            ref = replicasets.controller_of(rs) if rs is not None else None
            if ref is None or ref.get("kind") != "Deployment":
                continue
            owner = (member, namespace, str(ref.get("name", "")))
            if add:
                self.sets_of.setdefault(owner, set()).add(key)
            elif owner in self.sets_of:
                self.sets_of[owner].discard(key)
                if not self.sets_of[owner]:
                    del self.sets_of[owner]

    def _member_sets(self, member: str, namespace: str, name: str) -> list[dict[str, Any]]:
        """The member's ReplicaSets a Deployment ``name`` controls (by name: which of
        them that copy controls is checked after)."""
        inf = self.caches.get(member)
        if inf is None:
            return []
        keys = sorted(self.sets_of.get((member, namespace, name), ()))
        return [o for o in (inf.cache.get(k) for k in keys) if o is not None]

    async def _named_after(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The ReplicaSets named ``<name>-...`` (one range read of their keys, not the
        namespace's every ReplicaSet: a namespace may hold thousands)."""
        found = await self.storage.store.range(self.storage.key(self.kind, namespace,
                                                                f"{name}-"))
        return [kapi_objects.from_json(kv.value, kv.mod_revision) for kv in found.kvs]

    async def _owned(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        meta = deployment["metadata"]
        namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
        if self.synced:
            found = [obj for _, obj in self.kept.get((namespace, name), {}).values()]
        else:
            found = await self._named_after(namespace, name)
        return [rs for rs in found if replicasets.kept(rs) and
                (replicasets.controller_of(rs) or {}).get("uid") == meta.get("uid")]

    async def sync(self, deployment: dict[str, Any],
                   copies: Mapping[str, dict[str, Any] | None]) -> int:
        """Create or update the Deployment's current ReplicaSet and its status, delete
        older ones; returns the writes sent."""
        if self.kind is None:
            return 0
        want = self._desired(deployment)
        namespace, name = want["metadata"]["namespace"], want["metadata"]["name"]
        writes = 0
        current = None
        for rs in await self._owned(deployment):
            if rs["metadata"]["name"] == name:
                current = rs
            else:
                writes += await self._delete(namespace, rs["metadata"]["name"])
        try:
            if current is None:
                current = self._wrote(await self.storage.create(self.kind, namespace, want))
                writes += 1
            elif current.get("spec") != want["spec"]:
                fresh = copy.deepcopy(current)
                fresh["spec"] = want["spec"]
                current = self._wrote(await self.storage.update(
                    self.kind, namespace, name, fresh, owned=True, current=current))
                writes += 1
            members = []
            for member, c in copies.items():
                members += self._current(
                    c, self._member_sets(member, namespace, deployment["metadata"]["name"]))
            status = replicasets.summed(current, members)
            if status != (current.get("status") or {}):
                # only status is taken from it: no need to copy the rest
                self._wrote(await self.storage.update(
                    self.kind, namespace, name, {**current, "status": status},
                    subresource="status", owned=True, current=current))
                writes += 1
        except kapi_status.ApiError as err:
            if err.code not in (404, 409):
                raise
            # raced with another write or the Deployment's delete: the next event redoes it
            log.info("endpoint ReplicaSet %s/%s: %s", namespace, name, err)
        return writes

    def _desired(self, deployment: dict[str, Any]) -> dict[str, Any]:
        """:func:`replicasets.desired`, once per Deployment version (never changed by
        callers: they copy before they change)."""
        meta = deployment["metadata"]
        key = (str(meta.get("namespace") or ""), str(meta["name"]))
        version = (meta.get("uid"), meta.get("generation"))
        have = self._wanted.get(key)
        if have is None or have[0] != version or version[1] is None:
            have = (version, replicasets.desired(deployment))
            self._wanted[key] = have
        return have[1]

    def _current(self, copy_: dict[str, Any] | None,
                 sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """:func:`replicasets.member_current`, its template comparison remembered."""
        if not copy_:
            return []
        if len(self._same) > 100_000:  # a bound, not a policy: it refills as it is used
            self._same.clear()
        found = []
        for rs in sets:
            owner = (replicasets.controller_of(rs) or {}).get("uid")
            key = (_version(rs), _version(copy_), owner)
            if None in key[0] or None in key[1]:
                found += replicasets.member_current(copy_, [rs])
                continue
            if key not in self._same:
                self._same[key] = bool(replicasets.member_current(copy_, [rs]))
            if self._same[key]:
                found.append(rs)
        return found

    async def remove(self, deployment: dict[str, Any]) -> int:
        """Delete every ReplicaSet kept for the Deployment; returns the deletes sent."""
        if self.kind is None:
            return 0
        namespace = str(deployment["metadata"].get("namespace") or "")
        self._wanted.pop((namespace, str(deployment["metadata"]["name"])), None)
        return sum([await self._delete(namespace, rs["metadata"]["name"])
                    for rs in await self._owned(deployment)])

    async def remove_orphans(self, namespace: str, name: str) -> int:
        """Delete the kept ReplicaSets of a Deployment that is gone (by owner name)."""
        if self.kind is None:
            return 0
        self._wanted.pop((namespace, name), None)
        found = await self._named_after(namespace, name)
        gone = [rs for rs in found if replicasets.kept(rs) and
                (replicasets.controller_of(rs) or {}).get("name") == name]
        return sum([await self._delete(namespace, rs["metadata"]["name"]) for rs in gone])

    def _wrote(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        self.saw(str(meta.get("namespace") or ""), str(meta["name"]),
                 int(meta.get("resourceVersion") or 0), obj)
        return obj

    async def _delete(self, namespace: str, name: str) -> int:
        try:
            await self.storage.delete(self.kind, namespace, name)
        except kapi_status.ApiError as err:
            if err.code != 404:
                raise
            self._forget(namespace, name, deleted=True)
            return 0
        self._forget(namespace, name, deleted=True)
        return 1


def _version(obj: dict[str, Any]) -> tuple[Any, Any]:
    meta = obj.get("metadata") or {}
    return (meta.get("uid"), meta.get("generation"))
