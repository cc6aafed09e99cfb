"""CustomResourceDefinitions: each served version of a CRD becomes a :class:`Kind`.

:func:`kinds_of` reads a CRD (apiextensions.k8s.io/v1) into kinds: names, scope,
short names and categories from ``spec.names``; the ``status`` and ``scale``
subresources when the version declares them; Table columns from
``additionalPrinterColumns`` (``Name`` first; no ``Age`` unless declared, as
kube-apiserver prints custom resources); the version's ``openAPIV3Schema`` for
OpenAPI, pruning and ``fieldValidation``.  Every served version is stored under the
same key prefix (``/registry/<group>/<plural>/``) without conversion.

:func:`default_crd` fills what kube-apiserver's controllers report at once
(``acceptedNames``, ``NamesAccepted`` and ``Established`` conditions,
``storedVersions``), and :func:`validate_crd` refuses the mistakes a cluster refuses.
:class:`Sync` keeps a registry in step with the stored CRDs.  Pure but for ``Sync``,
which reads and watches the Storage it is given.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from fedns.kapi import objects, registry, status, tables
from fedns.kapi.registry import Kind, Scale

if TYPE_CHECKING:
    from fedns.kapi import storage

log = logging.getLogger(__name__)

Obj = dict[str, Any]

GROUP, VERSION, PLURAL = "apiextensions.k8s.io", "v1", "customresourcedefinitions"
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Sort key giving kube's version order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 >
    anything else (alphabetically)."""
    matched = _VERSION.match(name)
    if not matched:
        return (3, 0, 0, name)
    major, stage, minor = matched.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), name)


def _printer(columns: list[Obj] | None) -> tables.Printer:
    if not columns:
        return tables.DEFAULT
    specs: list[tuple[str, str, str, int]] = []
    for column in columns:
        if not isinstance(column, dict) or not column.get("name") or not column.get("jsonPath"):
            continue
        specs.append((str(column["name"]), str(column["jsonPath"]),
                      str(column.get("type") or "string"), int(column.get("priority") or 0)))
    return tables.columns(*specs, with_age=False)


def kinds_of(crd: Obj) -> list[Kind]:
    """The kinds of the served versions of ``crd``, best version first."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind_name = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind_name):
        return []
    found = []
    for version in spec.get("versions") or []:
        if not isinstance(version, dict) or not version.get("served") or not version.get("name"):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        found.append(Kind(
            str(group), str(version["name"]), str(plural), str(kind_name),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            singular=str(names.get("singular") or kind_name.lower()),
            status="status" in subresources,
            printer=_printer(version.get("additionalPrinterColumns")),
            scale=Scale(str(scale.get("specReplicasPath") or ".spec.replicas"),
                        str(scale.get("statusReplicasPath") or ".status.replicas"),
                        str(scale.get("labelSelectorPath") or "")) if isinstance(scale, dict)
            else None,
            schema=schema if isinstance(schema, dict) else None,
            preserve_unknown=bool(isinstance(schema, dict) and
                                  schema.get("x-kubernetes-preserve-unknown-fields")),
            description=str((schema or {}).get("description") or "")
            if isinstance(schema, dict) else ""))
    return sorted(found, key=lambda k: version_priority(k.version))


def default_crd(crd: Obj) -> None:
    spec = crd.setdefault("spec", {})
    spec.setdefault("scope", "Namespaced")
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    crd_status = crd.setdefault("status", {})
    crd_status["acceptedNames"] = dict(names)
    now = objects.timestamp()
    known = {c.get("type"): c for c in crd_status.get("conditions") or []
             if isinstance(c, dict)}
    crd_status["conditions"] = [
        known.get("NamesAccepted") or {"type": "NamesAccepted", "status": "True",
                                       "reason": "NoConflicts", "message": "no conflicts found",
                                       "lastTransitionTime": now},
        known.get("Established") or {"type": "Established", "status": "True",
                                     "reason": "InitialNamesAccepted",
                                     "message": "the initial names have been accepted",
                                     "lastTransitionTime": now}]
    stored = [v.get("name") for v in spec.get("versions") or []
              if isinstance(v, dict) and v.get("storage")]
    previous = [v for v in crd_status.get("storedVersions") or [] if v not in stored]
    crd_status["storedVersions"] = previous + stored


def validate_crd(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    spec = new.get("spec") or {}
    names = spec.get("names") or {}
    causes = []
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append((f"spec.names.{field}", "Required value"))
    if not spec.get("group"):
        causes.append(("spec.group", "Required value"))
    name = str((new.get("metadata") or {}).get("name", ""))
    if names.get("plural") and spec.get("group") and \
            name != f"{names['plural']}.{spec['group']}":
        causes.append(("metadata.name", (f'Invalid value: "{name}": must be '
                                        'spec.names.plural+"."+spec.group')))
    if spec.get("scope") not in (None, "Namespaced", "Cluster"):
        causes.append(("spec.scope", (f'Unsupported value: "{spec.get("scope")}": supported '
                                     'values: "Cluster", "Namespaced"')))
    versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
    if not versions:
        causes.append(("spec.versions", ("Invalid value: null: must have exactly one version "
                                        "marked as storage version")))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("spec.versions", ("Invalid value: must have exactly one version marked "
                                        "as storage version")))
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("group",):
            if old_spec.get(field) != spec.get(field):
                causes.append((f"spec.{field}", (f'Invalid value: "{spec.get(field)}": field is '
                                                "immutable")))
    return causes


class Sync:
    """Keeps ``reg`` serving the custom kinds of the CRDs stored in ``store``:
    :meth:`resync` once (after a CRD write), :meth:`run` to follow a watch until
    cancelled.  A removed CRD's objects are deleted with it."""

    def __init__(self, store: storage.Storage, reg: registry.Registry) -> None:
        self.store = store
        self.registry = reg
        # CRD name -> (its resourceVersion, the kinds registered for it)
        self._served: dict[str, tuple[str, list[Kind]]] = {}
        self._lock = asyncio.Lock()

    @property
    def crd_kind(self) -> Kind | None:
        return self.registry.lookup(GROUP, VERSION, PLURAL)

    async def resync(self) -> int:
        """Register and unregister kinds to match the stored CRDs; returns the list
        revision."""
        kind = self.crd_kind
        if kind is None:
            return 0
        async with self._lock:
            listed = await self.store.list(kind)
            wanted = {str(objects.meta(crd).get("name", "")): crd for crd in listed.items
                      if not objects.meta(crd).get("deletionTimestamp")}
            versions = {name: str(objects.meta(crd).get("resourceVersion", ""))
                        for name, crd in wanted.items()}
            for name in list(self._served):
                if self._served[name][0] != versions.get(name):
                    for old in self._served.pop(name)[1]:
                        self.registry.remove(old)
                    if name not in wanted:
                        await self._purge(name)
            for name, crd in wanted.items():
                if name in self._served:
                    continue
                added = []
                for custom in kinds_of(crd):
                    try:
                        added.append(self.registry.add(custom))
                    except registry.DuplicateKind:
                        log.warning("kapi: CRD %s: %s in %s is served already", name,
                                    custom.plural, custom.api_version)
                self._served[name] = (versions[name], added)
            return listed.revision

    async def _purge(self, crd_name: str) -> None:
        plural, _, group = crd_name.partition(".")
        gone = Kind(group, "v0", plural, "Gone")  # any version: all share one key prefix
        await self.store.store.delete(self.store.collection_key(gone), prefix=True)

    async def run(self) -> None:
        """Follow CRD changes until cancelled (relisting when the watch breaks)."""
        kind = self.crd_kind
        if kind is None:
            return
        while True:
            try:
                revision = await self.resync()
                async for _ in self.store.watch(kind, "", resource_version=revision):
                    await self.resync()
            except asyncio.CancelledError:
                raise
            except status.ApiError:
                continue  # compacted: relist
            except Exception:  # keep serving; try again shortly
                log.exception("kapi: following CRDs failed")
                await asyncio.sleep(1.0)

