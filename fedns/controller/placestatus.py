"""The placement status controller: each Placement's and ClusterPlacement's ``status``
says, per template it governs, the members chosen and their replicas.

Keys are ``(plural, namespace, name)`` of a policy object.  A reconcile reads the
decisions the propagation controller recorded on the templates (annotation
``fedns.io/placement``, whose ``source`` names the policy) and writes the policy's
status where it differs::

    status:
      templates: 1
      summary: "shop/web: umich=4,msu=2"     # the Placed column of kubectl get placements
      decisions:
        - {apiVersion: apps/v1, kind: Deployment, namespace: shop, name: web,
           members: [msu, umich], replicas: {msu: 2, umich: 4}, reason: ""}

A changed decision on any template dirties every policy (a template may move from one
to another); a reconcile lists the templates once per policy, so this suits hundreds of
templates, not hundreds of thousands.  Not for: deciding (``fedns.controller.placing``).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fedns import errors, placements
from fedns.controller import placing, runtime
from fedns.kapi import registry
from fedns.kapi import status as kapi_status

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
SUMMARY_LIMIT = 200  # characters of the Placed column; the full list is in decisions


def source_of(kind: registry.Kind, namespace: str, name: str) -> str:
    """The ``source`` a decision made under this policy records (selection.policy_for)."""
    return f"placement/{namespace}/{name}" if kind.namespaced else f"placement/{name}"


def summarise(decisions: list[dict[str, Any]]) -> str:
    parts = []
    for d in decisions:
        where = f"{d['namespace']}/{d['name']}" if d["namespace"] else d["name"]
        if d["replicas"]:
            placed = ",".join(f"{m}={d['replicas'].get(m, 0)}" for m in d["members"])
        else:
            placed = ",".join(d["members"]) or "none"
        parts.append(f"{where}: {placed}")
    text = "; ".join(parts)
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 3] + "..."


class PlacementStatusController(runtime.Controller):
    """Writes what each placement policy placed into its status."""

    name = "placement-status"

    def __init__(self, storage: Any, template_kinds: Mapping[registry.Kind, Any]) -> None:
        super().__init__()
        self.storage = storage
        reg = storage.registry
        self.policy_kinds = {k.plural: k for k in placements.KINDS
                             if reg.lookup(k.group, k.version, k.plural) is not None}
        self.by_prefix = {storage.collection_key(k): k for k in self.policy_kinds.values()}
        self.templates = list(template_kinds)
        self.template_prefixes = {storage.collection_key(k) for k in self.templates}
        self.watches = runtime.Watches(prefixes=(*self.by_prefix, *self.template_prefixes))
        self.known: set[Key] = set()
        self.records: dict[bytes, str] = {}  # template's Store key -> its decision record

    def map(self, event: runtime.Event) -> Iterable[Key]:
        if not isinstance(event, runtime.StoreEvent):
            return ()
        kind = self.by_prefix.get(event.prefix)
        if kind is not None:
            namespace, _, name = event.key[len(event.prefix):].decode().rpartition("/")
            key = (kind.plural, namespace, name)
            self.known.add(key)
            return [key]
        if event.prefix in self.template_prefixes and self._decision_changed(event):
            return set(self.known)
        return ()

    def _decision_changed(self, event: runtime.StoreEvent) -> bool:
        """Only a template's recorded decision matters here, not its status writes."""
        record = ""
        if event.value is not None:
            try:
                notes = (json.loads(event.value).get("metadata") or {}).get("annotations")
                record = str((notes or {}).get(placing.ANNOTATION, ""))
            except ValueError:
                record = "?"
        before = self.records.pop(event.key, "")
        if record:
            self.records[event.key] = record
        return before != record

    async def keys(self) -> list[Key]:
        found: set[Key] = set()
        for kind in self.policy_kinds.values():
            for obj in (await self.storage.list(kind, "")).items:
                meta = obj["metadata"]
                found.add((kind.plural, str(meta.get("namespace") or ""), str(meta["name"])))
        self.known = set(found)
        return sorted(found)

    async def _decisions(self, source: str) -> list[dict[str, Any]]:
        out = []
        for kind in self.templates:
            for obj in (await self.storage.list(kind, "")).items:
                d, where = placing.stored(obj)
                if d is None or where != source:
                    continue
                meta = obj["metadata"]
                out.append({"apiVersion": kind.api_version, "kind": kind.kind,
                            "namespace": str(meta.get("namespace") or ""),
                            "name": str(meta["name"]), "members": list(d.members),
                            "replicas": dict(d.replicas), "reason": d.reason})
        out.sort(key=lambda d: (d["namespace"], d["name"], d["kind"]))
        return out

    async def reconcile(self, key: Any) -> runtime.Result:
        plural, namespace, name = key
        kind = self.policy_kinds[plural]
        try:
            obj = await self.storage.get(kind, namespace, name)
        except kapi_status.ApiError as err:
            if err.code != 404:
                raise
            self.known.discard(key)
            return runtime.Result()
        decisions = await self._decisions(source_of(kind, namespace, name))
        status = {"templates": len(decisions), "summary": summarise(decisions),
                  "decisions": decisions}
        if obj.get("status") == status:
            return runtime.Result()
        fresh = copy.deepcopy(obj)
        fresh["status"] = status
        try:
            await self.storage.update(kind, namespace, name, fresh, subresource="status")
        except kapi_status.ApiError as err:
            if err.code in (404, 409):
                raise errors.TemporaryError(f"{kind.kind} {name}: {err}", delay=0.05) from err
            raise
        return runtime.Result(changed=1)
