"""The simulated garbage collector: ownerReferences, as kube-controller-manager's
``pkg/controller/garbagecollector`` honours them.

- Background: an object all of whose owners are gone (no object with the owner's
  uid) is deleted; references to owners that are gone while others remain are removed.
- Foreground: an owner deleted with ``propagationPolicy: Foreground`` carries the
  ``foregroundDeletion`` finalizer; its dependents are deleted (foreground too when
  they block it), and once none with ``blockOwnerDeletion`` is left the finalizer
  goes and the owner with it.
- Orphan: an owner with the ``orphan`` finalizer has its references removed from its
  dependents, then the finalizer goes.

The Storage adds those finalizers on delete when its settings say a collector runs
(``garbage_collector``).  Every registered kind is watched.  Not for: owners in other
namespaces (invalid in kube too), cross-member references.
"""

from __future__ import annotations

from typing import Any

from fedns.kapi import status
from fedns.kapi.registry import Kind
from fedns.sim import meta, runtime

Obj = dict[str, Any]
Ref = tuple[str, str, str]  # (qualified kind, namespace, name)

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class GarbageCollector(runtime.Controller):
    name = "garbagecollector"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.kinds: dict[str, Kind] = {}
        self.by_uid: dict[str, Ref] = {}
        self.dependents: dict[str, set[Ref]] = {}
        for kind in rt.registry.kinds():
            self.kinds[kind.qualified] = kind
            rt.watch(kind.plural, kind.group, self._handler(kind.qualified))

    def _handler(self, qualified: str) -> runtime.Handler:
        def handle(old: Obj | None, new: Obj | None) -> None:
            self._on_change(qualified, old, new)
        return handle

    def _on_change(self, qualified: str, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        ref: Ref = (qualified, *meta.key(obj))
        if old is not None:
            for owner in meta.owner_refs(old):
                self.dependents.get(str(owner.get("uid")), set()).discard(ref)
        if new is None:
            self.by_uid.pop(meta.uid(obj), None)
            for k in self.dependents.get(meta.uid(obj), ()):
                self.enqueue(k)
            for owner in meta.owner_refs(obj):  # an owner may wait for this one to go
                found = self.by_uid.get(str(owner.get("uid")))
                if found is not None:
                    self.enqueue(found)
            return
        self.by_uid[meta.uid(new)] = ref
        for owner in meta.owner_refs(new):
            self.dependents.setdefault(str(owner.get("uid")), set()).add(ref)
        finalizers = meta.meta(new).get("finalizers") or []
        if meta.owner_refs(new) or (meta.deleting(new) and
                                    (FOREGROUND in finalizers or ORPHAN in finalizers)):
            self.enqueue(ref)

    def _get(self, ref: runtime.Key) -> Obj | None:
        kind = self.kinds.get(ref[0])
        if kind is None:
            return None
        return self.runtime.informer(kind.plural, kind.group).get(ref[1], ref[2])

    def _owner_kind(self, owner: Obj) -> Kind | None:
        api_version = str(owner.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        for kind in self.runtime.registry.kinds(group, version):
            if kind.kind == owner.get("kind"):
                return kind
        return None

    async def _owner(self, namespace: str, owner: Obj) -> Obj | None:
        """The live owner a reference names, or None when it is gone (checked against
        the API when the caches do not know it, as upstream does)."""
        found = self.by_uid.get(str(owner.get("uid")))
        if found is not None:
            obj = self._get(found)
            if obj is not None:
                return obj
        kind = self._owner_kind(owner)
        if kind is None:
            return None
        try:
            live = await self.runtime.storage.get(kind, namespace if kind.namespaced else "",
                                                  str(owner.get("name", "")))
        except status.ApiError as err:
            if err.code == 404:
                return None
            raise
        return live if meta.uid(live) == owner.get("uid") else None

    async def reconcile(self, k: runtime.Key) -> float | None:
        obj = self._get(k)
        if obj is None:
            return None
        kind = self.kinds[k[0]]
        finalizers = list(meta.meta(obj).get("finalizers") or [])
        if meta.deleting(obj) and ORPHAN in finalizers:
            await self._orphan(obj)
            await self._drop_finalizer(kind, obj, ORPHAN)
            return None
        if meta.deleting(obj) and FOREGROUND in finalizers:
            blocking = await self._delete_dependents(obj)
            if not blocking:
                await self._drop_finalizer(kind, obj, FOREGROUND)
            return None
        owners = meta.owner_refs(obj)
        if not owners or meta.deleting(obj):
            return None
        live, gone, waiting = [], [], 0
        for owner in owners:
            found = await self._owner(k[1], owner)
            if found is None:
                gone.append(owner)
                continue
            live.append(owner)
            if meta.deleting(found) and FOREGROUND in (meta.meta(found).get("finalizers") or []):
                waiting += 1
        if not live:
            await self.runtime.delete(kind, obj)
        elif waiting == len(live):
            blocks = any(o.get("blockOwnerDeletion") for o in live)
            await self.runtime.delete(kind, obj, "Foreground" if blocks else "Background")
        elif gone:
            uids = {o.get("uid") for o in gone}
            await self._set_owners(kind, obj, [o for o in owners if o.get("uid") not in uids])
        return None

    async def _set_owners(self, kind: Kind, obj: Obj, owners: list[Obj]) -> None:
        metadata = dict(meta.meta(obj))
        if owners:
            metadata["ownerReferences"] = owners
        else:
            metadata.pop("ownerReferences", None)
        await self.runtime.update(kind, dict(obj, metadata=metadata))

    async def _orphan(self, owner: Obj) -> None:
        for ref in list(self.dependents.get(meta.uid(owner), ())):
            dependent = self._get(ref)
            if dependent is None:
                continue
            owners = [o for o in meta.owner_refs(dependent) if o.get("uid") != meta.uid(owner)]
            await self._set_owners(self.kinds[ref[0]], dependent, owners)

    async def _delete_dependents(self, owner: Obj) -> int:
        """Delete what ``owner`` owns; returns how many that block it remain."""
        blocking = 0
        for ref in list(self.dependents.get(meta.uid(owner), ())):
            dependent = self._get(ref)
            if dependent is None:
                continue
            mine = [o for o in meta.owner_refs(dependent) if o.get("uid") == meta.uid(owner)]
            blocks = any(o.get("blockOwnerDeletion") for o in mine)
            blocking += blocks
            if not meta.deleting(dependent):
                await self.runtime.delete(self.kinds[ref[0]], dependent,
                                          "Foreground" if blocks else "Background")
        return blocking

    async def _drop_finalizer(self, kind: Kind, obj: Obj, finalizer: str) -> None:
        metadata = dict(meta.meta(obj))
        metadata["finalizers"] = [f for f in metadata.get("finalizers") or []
                                  if f != finalizer]
        if not metadata["finalizers"]:
            del metadata["finalizers"]
        try:
            await self.runtime.update(kind, dict(obj, metadata=metadata))
        except status.ApiError as err:
            if err.code != 404:
                raise
