"""The kinds a kapi server serves: one :class:`Kind` spec per resource, kept in a
:class:`Registry`.

Adding a kind, built-in or custom, is one line::

    registry.add(Kind("fedns.io", "v1alpha1", "ippools", "IPPool", namespaced=False,
                      short_names=("ipp",), status=True,
                      printer=tables.columns(("Site", ".spec.site"))))

A Kind says how its objects are named and shown (discovery, Table columns, OpenAPI
stub) and may carry hooks: ``default(obj)`` fills defaults in place,
``validate(new, old)`` returns ``(field, message)`` causes for a 422,
``prepare(ctx, old, new)`` claims or releases Store keys in the same transaction as
the write (Service cluster IPs), ``render(obj)`` computes what is served from what
is stored, and ``commit`` hands the write itself to the component that owns the
records (with ``key_prefix`` naming where they are).  The built-in kinds are in
:mod:`fedns.kapi.builtin`.  No I/O here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fedns import errors
from fedns.kapi import tables

Obj = dict[str, Any]

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclasses.dataclass(frozen=True)
class Scale:
    """Where a kind keeps what its ``scale`` subresource (autoscaling/v1 Scale) shows:
    JSON paths as a CRD's ``subresources.scale`` names them.  Without
    ``label_selector_path`` the selector is rendered from ``.spec.selector``, as for
    Deployments, ReplicaSets and StatefulSets."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str = ""


class DuplicateKind(errors.UsageError):
    """The resource is already registered."""


@dataclasses.dataclass
class Claims:
    """Store keys a write claims (created only if absent, in the write's transaction)
    and releases (deleted in it).  A ``prepare`` hook may also fill fields of the new
    object in place (a Service's clusterIP) before returning its claims."""

    claim: dict[bytes, bytes] = dataclasses.field(default_factory=dict)
    release: list[bytes] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""
    status: bool = False  # serves the status subresource; main writes keep .status
    status_on_create: bool = False  # create keeps .status (Nodes); otherwise it is cleared
    printer: tables.Printer = tables.DEFAULT
    strategic: bool = False  # accepts strategic merge patch (built-in kinds only)
    # False: a namespaced kind whose objects may name a namespace the server does not
    # hold (reports that mirror members, e.g. FederatedServices); never namespace content
    needs_namespace: bool = True
    return_deleted: bool = False  # DELETE answers the object, not a Status (Service, Pod)
    default: Callable[[Obj], None] | None = None
    validate: Callable[[Obj, Obj | None], list[tuple[str, str]]] | None = None
    prepare: Callable[[Any, Obj | None, Obj | None], Awaitable[Claims]] | None = None
    description: str = ""
    schema_name: str = ""  # OpenAPI component name; derived when empty
    verbs: tuple[str, ...] = VERBS
    scale: Scale | None = None  # serves <plural>/scale (autoscaling/v1 Scale)
    # a create-only review kind (SelfSubjectAccessReview): POST answers review(body),
    # nothing is stored
    review: Callable[[Obj], Obj] | None = None
    # OpenAPI v3 schema of a custom kind (from its CRD); built-in kinds use the
    # upstream schemas (fedns.kapi.schemas)
    schema: Obj | None = None
    preserve_unknown: bool = False  # a custom kind keeps fields its schema does not name
    # where the objects live in the Store, for a kind whose records another component
    # owns (IPPools are IPAM's pool records); empty: under the server's prefix
    key_prefix: str = ""
    # the object as served, from the object as stored (a status computed at read)
    render: Callable[[Obj], Obj] | None = None
    # writes (key, revision the write is based on (0: create), object or None to
    # delete, its encoding) in place of the server's own transaction; returns the new
    # revision, 0 when the key changed meanwhile; refuses by raising status.ApiError
    commit: Callable[[bytes, int, Obj | None, bytes | None], Awaitable[int]] | None = None

    @functools.cached_property  # read several times per request; a Kind never changes
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def qualified(self) -> str:
        """``services`` / ``deployments.apps``, as messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def component(self) -> str:
        if self.schema_name:
            return self.schema_name
        if not self.group:
            return f"io.k8s.api.core.{self.version}.{self.kind}"
        if "." not in self.group:
            return f"io.k8s.api.{self.group}.{self.version}.{self.kind}"
        reverse = ".".join(reversed(self.group.split(".")))
        return f"{reverse}.{self.version}.{self.kind}"

    def gvk(self) -> dict[str, str]:
        return {"group": self.group, "version": self.version, "kind": self.kind}


class Registry:
    """Kinds by (group, version, plural), in the order they were added."""

    def __init__(self, kinds: Iterable[Kind] = ()) -> None:
        self._kinds: dict[tuple[str, str, str], Kind] = {}
        self._group_versions: list[tuple[str, str]] | None = None  # until add() changes it
        self.generation = 0  # goes up on every add and remove: caches of documents key on it
        for kind in kinds:
            self.add(kind)

    def add(self, kind: Kind) -> Kind:
        key = (kind.group, kind.version, kind.plural)
        if key in self._kinds:
            raise DuplicateKind(f"{kind.plural} in {kind.api_version} is already registered")
        self._kinds[key] = kind
        self._group_versions = None
        self.generation += 1
        return kind

    def remove(self, kind: Kind) -> None:
        """Stop serving ``kind`` (a deleted CRD's version)."""
        key = (kind.group, kind.version, kind.plural)
        if self._kinds.get(key) is kind:
            del self._kinds[key]
            self._group_versions = None
            self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> Kind | None:
        return self._kinds.get((group, version, plural))

    def kinds(self, group: str | None = None, version: str | None = None) -> list[Kind]:
        return [k for k in self._kinds.values()
                if (group is None or k.group == group) and (version is None or k.version == version)]

    def group_versions(self) -> list[tuple[str, str]]:
        """(group, version) pairs, the core group ("") first, then in order added."""
        if self._group_versions is None:
            seen: dict[tuple[str, str], None] = {}
            for kind in self._kinds.values():
                seen.setdefault((kind.group, kind.version), None)
            self._group_versions = sorted(seen, key=lambda gv: gv[0] != "")
        return list(self._group_versions)

    def groups(self) -> list[str]:
        ordered: dict[str, None] = {}
        for group, _ in self.group_versions():
            ordered.setdefault(group, None)
        return list(ordered)

    def versions(self, group: str) -> list[str]:
        return [v for g, v in self.group_versions() if g == group]

    def __contains__(self, kind: Kind) -> bool:
        return self._kinds.get((kind.group, kind.version, kind.plural)) is kind

    def __len__(self) -> int:
        return len(self._kinds)
