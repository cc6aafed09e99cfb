"""Kubernetes object semantics over a Store: create, read, update, patch, delete, watch.

Objects live as compact JSON under ``<prefix>/<group|core>/<plural>/[<namespace>/]<name>``
(as kube-apiserver lays out etcd); ``resourceVersion`` is the key's mod_revision and
a list's is the range revision.  Every write is one Store transaction that compares
the key (absent for create, unchanged mod_revision for update and delete), so
concurrent writers get 409 Conflict, never lost updates; keys a kind's ``prepare``
hook claims (Service cluster IPs) are checked absent in the same transaction.

Usable in process (the sim seeds its members with it) and by :mod:`fedns.kapi.server`.
Nothing here knows HTTP; failures are :class:`fedns.kapi.status.ApiError`.

A Storage remembers the bytes it last wrote per key (bounded), so that a watch asked
for ``encoded`` events and :meth:`Storage.served_json` give an object's JSON by
splicing its resourceVersion into them (:func:`fedns.kapi.objects.with_version`)
rather than decoding and encoding it again; a remembered value is used only while it
is equal to the Store's.  Storages over one Store share that memory (a sim member's
controllers write through one, its API server serves their objects through another),
and an event whose value none of them wrote is encoded once for all the encoded
watches that serve it.

With ``Settings(event_ttl=N)`` every write of an Event (``v1`` and ``events.k8s.io``)
puts it on a Store lease of N seconds (:mod:`fedns.kapi.leases`), as kube-apiserver's
``--event-ttl`` does: the Store deletes it N seconds (plus at most 5 %) after its last
write, and watchers see DELETED.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import functools
import ipaddress
import json
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from fedns import safeload
from fedns.kapi import apply as server_apply
from fedns.kapi import (
    fieldvalidation,
    leases,
    objects,
    patch,
    registry,
    selectors,
    shapecheck,
    shapes,
    status,
    strategic,
)
from fedns.kapi.registry import Kind
from fedns.store import base

Obj = dict[str, Any]
Managed = list[Obj]  # metadata.managedFields (a name, since Storage.list shadows list)

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# the largest stored object: below etcd's default request limit (1.5 MiB) with room for
# the key and the claims of the same transaction
MAX_OBJECT_BYTES = 1_500_000
_ATTEMPTS = 16  # retries of a write whose claims or (unconditioned) object raced
# what a Storage remembers (see the module docstring): the values it last wrote, for
# watches that lag at most this many writes behind; objects its writes returned, until
# the server encodes them (in process callers never do); namespaces' Terminating state
_REMEMBERED_VALUES = 8192
_REMEMBERED_RESULTS = 64
_REMEMBERED_NAMESPACES = 1024
_REMEMBERED_EVENTS = 1024  # events of values no Storage here wrote, served encoded

# key -> (value, meta_end), per Store: what any Storage over it wrote (see the module
# docstring); the bytes are compared with the Store's before use, so sharing is safe
_SHARED_VALUES: weakref.WeakKeyDictionary[base.Store, collections.OrderedDict[
    bytes, tuple[bytes, int]]] = weakref.WeakKeyDictionary()


def _values_of(store: base.Store) -> collections.OrderedDict[bytes, tuple[bytes, int]]:
    """The value memory shared by the Storages over ``store``."""
    try:
        found = _SHARED_VALUES.get(store)
        if found is None:
            found = _SHARED_VALUES[store] = collections.OrderedDict()
        return found
    except TypeError:  # a Store that takes no weak reference (or hash) keeps its own
        return collections.OrderedDict()


@dataclasses.dataclass(frozen=True)
class Settings:
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    # Off by default: a simulated member has no nodes to forward to, and 2,768 ports
    # would cap LoadBalancer Services at that number.  Explicit nodePorts are still
    # checked for uniqueness either way.
    allocate_node_ports: bool = False
    # A garbage collector acts on this Storage (a simulated member's): a delete whose
    # propagationPolicy is Foreground or Orphan leaves the object with the
    # foregroundDeletion or orphan finalizer for the collector to finish, as in kube.
    garbage_collector: bool = False
    # seconds an Event lives after its last write (kube-apiserver's --event-ttl); 0:
    # for ever
    event_ttl: int = 0

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return _network(self.service_cidr)


@functools.lru_cache(maxsize=64)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)  # once, not per Service


@dataclasses.dataclass(frozen=True)
class ListResult:
    items: list[Obj]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """``type`` is ADDED, MODIFIED, DELETED, or PROGRESS (a revision passed with no
    matching change) and INITIAL_END (the initial events are all sent).  From a watch
    with ``encoded``, ADDED, MODIFIED and DELETED carry ``data``, the object's JSON
    (``objects.dumps(object)``), and ``object`` is None unless a selector needed it."""

    type: str
    object: Obj | None
    revision: int
    data: bytes | None = None


class _Raced(Exception):
    """The object changed between read and write."""


class Storage:
    """Kubernetes semantics for the kinds of ``registry`` over ``store``."""

    def __init__(self, store: base.Store, reg: registry.Registry, *,
                 prefix: str = "/registry", settings: Settings | None = None) -> None:
        self.store = store
        self.registry = reg
        self.prefix = prefix.rstrip("/")
        self.settings = settings or Settings()
        # key -> (value, meta_end), shared with the other Storages over ``store``
        self._values = _values_of(store)
        # key -> (value, revision, served JSON) of the last event served from a value
        # no Storage here wrote: every encoded watch of it takes the same bytes
        self._events: collections.OrderedDict[bytes, tuple[bytes, int, bytes]] = \
            collections.OrderedDict()
        # id -> (obj, value, meta_end, revision)
        self._results: collections.OrderedDict[int, tuple[Obj, bytes, int, int]] = \
            collections.OrderedDict()
        # namespace -> (value, whether it is Terminating)
        self._terminating: collections.OrderedDict[str, tuple[bytes, bool]] = \
            collections.OrderedDict()
        self._event_leases = leases.Leases(store, self.settings.event_ttl) \
            if self.settings.event_ttl > 0 else None

    # -- keys --------------------------------------------------------------

    def collection_key(self, kind: Kind, namespace: str = "") -> bytes:
        if kind.key_prefix:
            return kind.key_prefix.encode()
        text = f"{self.prefix}/{kind.group or 'core'}/{kind.plural}/"
        if kind.namespaced and namespace:
            text += namespace + "/"
        return text.encode()

    def key(self, kind: Kind, namespace: str, name: str) -> bytes:
        return self.collection_key(kind, namespace if kind.namespaced else "") + name.encode()

    def _namespaces(self) -> Kind | None:
        return self.registry.lookup("", "v1", "namespaces")

    # -- reads -------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str, name: str) -> Obj:
        kv = await self.store.get(self.key(kind, namespace, name))
        if kv is None:
            raise status.not_found(kind.plural, kind.group, name)
        return self.decode(kind, kv.value, kv.mod_revision)

    @staticmethod
    def decode(kind: Kind, value: bytes, revision: int) -> Obj:
        """The object a Store value of ``kind`` at ``revision`` holds, as ``get`` returns
        it (for those who follow the Store's watch themselves)."""
        return _rendered(kind, objects.from_json(value, revision))

    async def list(self, kind: Kind, namespace: str = "", *,
                   labels: selectors.Selector = (), fields: selectors.FieldSelector = (),
                   limit: int = 0, continue_token: str = "", resource_version: str = "",
                   match: str = "") -> ListResult:
        prefix = self.collection_key(kind, namespace)
        revision, start_after = 0, b""
        if continue_token:
            revision, start_after = self._decode_continue(continue_token, prefix)
        elif resource_version and match == "Exact":
            revision = _parse_rv(resource_version)
        try:
            found = await self.store.range(prefix, revision)
        except base.Compacted as err:
            if continue_token:
                raise status.expired("The provided continue parameter is too old to display "
                                     "a consistent list result. You can start a new list "
                                     "without the continue parameter.") from err
            raise status.too_old(revision, err.compact_revision) from err
        except base.FutureRevision as err:
            raise status.ApiError(504, "Timeout", f"Too large resource version: {revision}, "
                                                  f"current: {await self.store.revision()}",
                                  {"retryAfterSeconds": 1}) from err
        list_revision = revision or found.revision
        matched: list[tuple[bytes, Obj]] = []
        for kv in found.kvs:
            if start_after and kv.key <= start_after:
                continue
            obj = _rendered(kind, objects.from_json(kv.value, kv.mod_revision))
            if self._matches(obj, labels, fields):
                matched.append((kv.key, obj))
        if limit and len(matched) > limit:
            token = self._encode_continue(list_revision, matched[limit - 1][0], prefix)
            remaining = None if labels or fields else len(matched) - limit
            return ListResult([o for _, o in matched[:limit]], list_revision, token, remaining)
        return ListResult([o for _, o in matched], list_revision)

    @staticmethod
    def _matches(obj: Obj, labels: selectors.Selector,
                 fields: selectors.FieldSelector) -> bool:
        return (selectors.matches_labels(labels, objects.meta(obj).get("labels"))
                and selectors.matches_fields(fields, obj))

    @staticmethod
    def _encode_continue(revision: int, last_key: bytes, prefix: bytes) -> str:
        start = last_key[len(prefix):].decode() + "\0"
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @staticmethod
    def _decode_continue(token: str, prefix: bytes) -> tuple[int, bytes]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            revision = int(data["rv"])
            start = str(data["start"]).rstrip("\0").encode()
        except (ValueError, KeyError, TypeError) as err:
            raise status.bad_request("continue key is not valid: incorrect encoded start "
                                     "resourceVersion (version meta.k8s.io/v1)") from err
        return revision, prefix + start

    # -- create ------------------------------------------------------------

    async def create(self, kind: Kind, namespace: str, obj: Obj, *,
                     dry_run: bool = False, managed: Managed | None = None,
                     owned: bool = False) -> Obj:
        """Create ``obj`` (not changed, unless ``owned``: the caller gives it away)."""
        new = obj if owned else objects.deepcopy(obj)
        self._check_type(kind, new)
        fieldvalidation.check(kind, new, "create")
        meta = objects.meta(new)
        namespace = self._check_namespace(kind, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = objects.generate_name(str(meta["generateName"]))
        name = str(meta.get("name") or "")
        if not name:
            raise status.invalid(kind.kind, kind.group, "",
                                 [("metadata.name", ("Required value: name or generateName "
                                                    "is required"))])
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "selfLink", "managedFields"):
            meta.pop(field, None)
        if managed:
            meta["managedFields"] = managed
        meta["uid"] = objects.new_uid()
        meta["creationTimestamp"] = objects.timestamp()
        if "spec" in new or kind.status:
            meta["generation"] = 1
        if kind.status and not kind.status_on_create:
            new.pop("status", None)
        if kind.default is not None:
            kind.default(new)
        self._validate(kind, new, None)
        await self._check_namespace_open(kind, namespace, name)
        key = self.key(kind, namespace, name)
        for _ in range(_ATTEMPTS):
            # prepare fills the candidate; a retry starts again from ``new``
            candidate = new if kind.prepare is None else objects.clone(new)
            claims = await self._prepare(kind, None, candidate)
            if dry_run:
                return candidate
            compares = [base.absent(key)]
            ns_kind = self._namespaces()
            if kind.namespaced and kind.needs_namespace and ns_kind is not None:
                compares.append(base.Compare(self.key(ns_kind, "", namespace),
                                             base.Target.CREATE, ">", 0))
            revision = await self._commit(kind, key, compares, candidate, claims)
            if revision:
                objects.meta(candidate)["resourceVersion"] = str(revision)
                return candidate
            if await self.store.get(key) is not None:
                raise status.already_exists(kind.plural, kind.group, name)
            if kind.namespaced and kind.needs_namespace and ns_kind is not None and \
                    await self.store.get(self.key(ns_kind, "", namespace)) is None:
                raise status.not_found("namespaces", "", namespace)
        raise status.internal(f"could not create {kind.qualified} {name!r}: too many retries")

    def _check_type(self, kind: Kind, obj: Obj) -> None:
        if not isinstance(obj, dict):
            raise status.bad_request("the body of the request is not a JSON object")
        problems = shapecheck.check(kind.group, kind.kind, obj)
        if problems:
            raise shapes.error(kind, obj, problems)
        api_version, object_kind = obj.get("apiVersion"), obj.get("kind")
        if object_kind and object_kind != kind.kind or api_version and \
                api_version != kind.api_version:
            raise status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({kind.api_version})" if api_version != kind.api_version else
                f"the kind in the data ({object_kind}) does not match the expected kind "
                f"({kind.kind})")
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind

    @staticmethod
    def _check_namespace(kind: Kind, namespace: str, meta: Obj) -> str:
        if not kind.namespaced:
            meta.pop("namespace", None)
            return ""
        given = meta.get("namespace")
        if given and namespace and given != namespace:
            raise status.bad_request("the namespace of the provided object does not match "
                                     "the namespace sent on the request")
        namespace = namespace or given or ""
        if not namespace:
            raise status.bad_request("an empty namespace may not be set during creation")
        meta["namespace"] = namespace
        return str(namespace)

    async def _check_namespace_open(self, kind: Kind, namespace: str, name: str) -> None:
        ns_kind = self._namespaces()
        if not kind.namespaced or not kind.needs_namespace or ns_kind is None:
            return
        kv = await self.store.get(self.key(ns_kind, "", namespace))
        if kv is None:
            raise status.not_found("namespaces", "", namespace)
        known = self._terminating.get(namespace)
        if known is not None and known[0] == kv.value:
            terminating = known[1]
        else:
            terminating = bool(objects.meta(json.loads(kv.value)).get("deletionTimestamp"))
            _remember(self._terminating, namespace, (kv.value, terminating),
                      _REMEMBERED_NAMESPACES)
        if terminating:
            raise status.forbidden(kind.plural, kind.group, name,
                                   f"unable to create new content in namespace {namespace} "
                                   "because it is being terminated")

    def _validate(self, kind: Kind, new: Obj, old: Obj | None) -> None:
        name = str(objects.meta(new).get("name", ""))
        causes = [("metadata.name", p) for p in objects.name_problems(name)] if old is None \
            else []
        if kind.validate is not None:
            causes.extend(kind.validate(new, old))
        if causes:
            raise status.invalid(kind.kind, kind.group, name, causes)

    async def _prepare(self, kind: Kind, old: Obj | None, new: Obj | None) -> registry.Claims:
        if kind.prepare is None:
            return registry.Claims()
        return await kind.prepare(self, old, new)

    async def _commit(self, kind: Kind, key: bytes, compares: Sequence[base.Compare],
                      obj: Obj | None, claims: registry.Claims,
                      encoded: tuple[bytes, int] | None = None) -> int:
        """One txn: the compares and every claim absent → write; 0 when they fail.
        ``encoded`` is ``objects.encode(obj)`` when the caller has it already.  A kind
        with a ``commit`` hook is written by the hook, based on the revision that
        ``compares[0]`` (on ``key``) expects."""
        if obj is not None:
            value, meta_end = encoded or objects.encode(obj)
            if len(value) > MAX_OBJECT_BYTES:  # patches add up past any request limit
                raise status.ApiError(413, "RequestEntityTooLarge",
                                      f"Request entity too large: the object is {len(value)} "
                                      f"bytes, more than the {MAX_OBJECT_BYTES} stored")
        if kind.commit is not None:
            expected = compares[0].value if compares[0].target is base.Target.MOD else 0
            return await kind.commit(key, int(expected), obj,
                                     value if obj is not None else None)
        checks = [*compares] + [base.absent(k) for k in claims.claim]
        expiring = obj is not None and self._event_leases is not None and _expires(kind)
        for attempt in range(2):
            lease = await self._event_leases.lease() \
                if expiring and self._event_leases is not None else 0
            if obj is not None:
                ops: list[base.Op] = [base.Put(key, value, lease)]
            else:
                ops = [base.Delete(key)]
            ops += [base.Put(k, v) for k, v in claims.claim.items()]
            ops += [base.Delete(k) for k in claims.release]
            try:
                result = await self.store.txn(checks, ops)
            except base.LeaseNotFound:
                # the shared lease ran out between grant and write: once more, fresh
                if not lease or attempt or self._event_leases is None:
                    raise
                self._event_leases.forget(lease)
                continue
            break
        if not result.succeeded:
            return 0
        if obj is not None:
            _remember(self._values, key, (value, meta_end), _REMEMBERED_VALUES)
            _remember(self._results, id(obj), (obj, value, meta_end, result.revision),
                      _REMEMBERED_RESULTS)
        return result.revision

    # -- encoded objects -----------------------------------------------------

    def served_json(self, obj: Obj, kind: Kind | None = None) -> bytes:
        """``objects.dumps(obj)``, for the object a write has just returned (a response
        body): when the write committed it, the committed bytes are reused.  Call it
        before changing the object (the server encodes at once); any other object is
        encoded (rendered first, for a ``kind`` with a ``render`` hook)."""
        if kind is not None and kind.render is not None:
            return objects.dumps(kind.render(obj))
        entry = self._results.pop(id(obj), None)
        if entry is not None and entry[0] is obj:
            _, value, meta_end, revision = entry
            meta = obj.get("metadata")
            # the splice puts resourceVersion last in metadata and leaves selfLink out
            if type(meta) is dict and meta and next(reversed(meta)) == "resourceVersion" \
                    and meta["resourceVersion"] == str(revision) and "selfLink" not in meta:
                return objects.with_version(value, meta_end, revision)
        return objects.dumps(obj)

    def _served(self, kv: base.KeyValue, revision: int, obj: Obj | None = None) -> bytes:
        """``objects.dumps(objects.from_json(kv.value, revision))``; ``obj`` is that
        object when the caller has decoded it."""
        known = self._values.get(kv.key)
        if known is not None and known[0] == kv.value:
            return objects.with_version(known[0], known[1], revision)
        served = self._events.get(kv.key)
        if served is not None and served[1] == revision and served[0] == kv.value:
            return served[2]
        data = objects.dumps(obj if obj is not None else objects.from_json(kv.value, revision))
        _remember(self._events, kv.key, (kv.value, revision, data), _REMEMBERED_EVENTS)
        return data

    # -- update and patch ----------------------------------------------------

    async def update(self, kind: Kind, namespace: str, name: str, obj: Obj, *,
                     subresource: str = "", dry_run: bool = False, owned: bool = False,
                     current: Obj | None = None) -> Obj:
        """Replace the object with ``obj`` (not changed, unless ``owned``).

        ``current``: the stored object as the caller holds it (from this Storage or
        its watch, never changed since), at ``obj``'s resourceVersion: the write
        compares against it instead of reading the Store first; if the Store has
        moved on, it is a conflict as for any stale resourceVersion."""
        incoming = obj if owned else objects.deepcopy(obj)
        self._check_type(kind, incoming)
        fieldvalidation.check(kind, incoming, "update")
        meta = objects.meta(incoming)
        if meta.get("name") and meta["name"] != name:
            raise status.bad_request(f"the name of the object ({meta['name']}) does not match "
                                     f"the name on the URL ({name})")
        if kind.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise status.bad_request("the namespace of the provided object does not match "
                                     "the namespace sent on the request")
        wanted = str(meta.get("resourceVersion") or "")
        held = current if wanted and current is not None and \
            str(objects.meta(current).get("resourceVersion") or "") == wanted else None
        for _ in range(_ATTEMPTS):
            if held is not None:
                revision = int(wanted)
                kv = base.KeyValue(self.key(kind, namespace, name), b"", 0, revision, 0)
                current, held = held, None
            else:
                kv = await self._read(kind, namespace, name)
                if wanted and wanted != str(kv.mod_revision):
                    raise status.conflict(kind.plural, kind.group, name)
                current = objects.from_json(kv.value, kv.mod_revision)
            try:
                return await self._replace(kind, kv, current, incoming, subresource, dry_run)
            except _Raced:
                if wanted:
                    raise status.conflict(kind.plural, kind.group, name) from None
        raise status.conflict(kind.plural, kind.group, name)

    async def patch(self, kind: Kind, namespace: str, name: str, patch_type: str,
                    body: Any, *, subresource: str = "", dry_run: bool = False) -> Obj:
        if patch_type == STRATEGIC_PATCH and not kind.strategic:
            raise status.unsupported_media_type(patch_type, [JSON_PATCH, MERGE_PATCH])
        if patch_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
            accepted = [JSON_PATCH, MERGE_PATCH] + ([STRATEGIC_PATCH] if kind.strategic else [])
            raise status.unsupported_media_type(patch_type, accepted)
        for _ in range(_ATTEMPTS):
            kv = await self._read(kind, namespace, name)
            current = objects.from_json(kv.value, kv.mod_revision)
            try:
                if patch_type == JSON_PATCH:
                    patched = patch.json_patch(current, body)
                elif patch_type == MERGE_PATCH:
                    patched = patch.merge_patch(current, body)
                else:
                    patched = strategic.apply(current, body)
            except patch.BadPatch as err:
                raise status.ApiError(422, "Invalid", str(err)) from err
            if not isinstance(patched, dict):
                raise status.bad_request("the patch did not produce an object")
            # a JSON patch's path reaches any depth (merge patches nest no deeper than
            # their body or the object)
            if patch_type == JSON_PATCH and not safeload.within_depth(patched):
                raise status.ApiError(422, "Invalid", "the patched object is nested deeper "
                                      f"than {safeload.DEFAULT.max_depth} levels")
            wanted = str(objects.meta(patched).get("resourceVersion") or "")
            if wanted and wanted != str(kv.mod_revision):
                raise status.conflict(kind.plural, kind.group, name)
            self._check_type(kind, patched)
            fieldvalidation.check(kind, patched, "patch",
                                  patch=body if patch_type == STRATEGIC_PATCH else None)
            try:
                return await self._replace(kind, kv, current, patched, subresource, dry_run)
            except _Raced:
                continue
        raise status.conflict(kind.plural, kind.group, name)

    async def apply(self, kind: Kind, namespace: str, name: str, body: Any, *,
                    manager: str, force: bool = False, dry_run: bool = False
                    ) -> tuple[Obj, bool]:
        """Server-side apply of ``body`` by ``manager`` (see :mod:`fedns.kapi.apply`);
        creates the object when missing.  Returns the object and whether it was
        created."""
        if not manager:
            raise status.bad_request("PATCH requests with Content-Type "
                                     "application/apply-patch+yaml must have a fieldManager "
                                     "query parameter")
        if not isinstance(body, dict):
            raise status.bad_request("an apply body must be an object")
        intent = objects.deepcopy(body)
        self._check_type(kind, intent)
        fieldvalidation.check(kind, intent, "apply", name, namespace)
        meta = objects.meta(intent)
        if meta.get("name") and meta["name"] != name:
            raise status.bad_request(f"the name of the object ({meta['name']}) does not match "
                                     f"the name on the URL ({name})")
        meta["name"] = name
        meta.pop("managedFields", None)
        wanted = str(meta.pop("resourceVersion", "") or "")
        rules: dict[tuple[str, ...], strategic.ListRule] | None = \
            None if kind.strategic else {}
        for _ in range(_ATTEMPTS):
            kv = await self.store.get(self.key(kind, namespace, name))
            current = objects.from_json(kv.value, kv.mod_revision) if kv is not None else None
            if wanted and (kv is None or wanted != str(kv.mod_revision)):
                raise status.conflict(kind.plural, kind.group, name)
            outcome = server_apply.apply(current, intent, manager, force=force,
                                         api_version=kind.api_version,
                                         now=objects.timestamp(), rules=rules)
            if outcome.conflicts:
                raise _apply_conflict(kind, name, outcome.conflicts)
            if kv is None or current is None:
                try:
                    created = await self.create(kind, namespace, outcome.obj, dry_run=dry_run,
                                                managed=outcome.managed)
                except status.ApiError as err:
                    if err.reason == "AlreadyExists":
                        continue
                    raise
                return created, True
            try:
                return await self._replace(kind, kv, current, outcome.obj, "", dry_run,
                                           managed=outcome.managed), False
            except _Raced:
                continue
        raise status.conflict(kind.plural, kind.group, name)

    async def _read(self, kind: Kind, namespace: str, name: str) -> base.KeyValue:
        kv = await self.store.get(self.key(kind, namespace, name))
        if kv is None:
            raise status.not_found(kind.plural, kind.group, name)
        return kv

    def _merge_update(self, kind: Kind, current: Obj, incoming: Obj, subresource: str,
                      managed: Managed | None = None) -> Obj:
        """The object to store when ``incoming`` replaces ``current``: status from the
        right side, immutable metadata kept, generation bumped on spec change."""
        old_meta = objects.meta(current)
        if subresource == "status":
            # shares all but metadata with ``current`` and ``incoming``, which are the
            # caller's own (read from the Store, built or copied for this write) and
            # which nothing changes from here on
            new = dict(current)
            new["metadata"] = dict(old_meta)
            if "status" in incoming:
                new["status"] = incoming["status"]
            else:
                new.pop("status", None)
            return new
        new = objects.deepcopy(incoming)
        meta = objects.meta(new)
        for key in objects.IMMUTABLE_META:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["name"] = old_meta.get("name")
        if kind.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        else:
            meta.pop("namespace", None)
        # managedFields belong to the server: only an apply changes them
        if managed is not None:
            meta["managedFields"] = managed
        elif "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        else:
            meta.pop("managedFields", None)
        if kind.status:
            if "status" in current:
                new["status"] = objects.deepcopy(current["status"])
            else:
                new.pop("status", None)
        if kind.default is not None:
            kind.default(new)
        if "generation" in old_meta and objects.content(new) != objects.content(current):
            meta["generation"] = int(old_meta["generation"]) + 1
        return new

    async def _replace(self, kind: Kind, kv: base.KeyValue, current: Obj, incoming: Obj,
                       subresource: str, dry_run: bool, managed: Managed | None = None) -> Obj:
        new = self._merge_update(kind, current, incoming, subresource, managed)
        if subresource != "status":
            self._validate(kind, new, current)
        encoded = objects.encode(new)
        # without_version(new) == without_version(current), decoding once: ``current``
        # came from the Store, so it is its stored form already
        if json.loads(encoded[0]) == objects.stripped(current):
            return current  # a no-op write keeps the resourceVersion, as kube-apiserver
        meta = objects.meta(new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if dry_run:
                return new
            revision = await self._delete_now(kind, kv, current)
            meta["resourceVersion"] = str(revision)
            return new
        claims = registry.Claims()
        if subresource != "status" and kind.prepare is not None:
            claims = await self._prepare(kind, current, new)
            encoded = objects.encode(new)  # prepare may have filled fields
        if dry_run:
            return new
        revision = await self._commit(kind, kv.key, [base.mod_revision_is(kv.key, kv.mod_revision)],
                                      new, claims, encoded)
        if not revision:
            raise _Raced()
        meta["resourceVersion"] = str(revision)
        return new

    # -- delete ------------------------------------------------------------

    async def delete(self, kind: Kind, namespace: str, name: str,
                     options: Obj | None = None, *, dry_run: bool = False) -> tuple[Obj, bool]:
        """Delete, or mark for deletion while finalizers remain.  Returns the object and
        whether it is gone."""
        options = options or {}
        preconditions = options.get("preconditions") or {}
        for _ in range(_ATTEMPTS):
            kv = await self._read(kind, namespace, name)
            current = objects.from_json(kv.value, kv.mod_revision)
            meta = objects.meta(current)
            if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
                raise status.conflict(kind.plural, kind.group, name,
                                      f"Precondition failed: UID in precondition: "
                                      f"{preconditions['uid']}, UID in object meta: "
                                      f"{meta.get('uid')}")
            wanted = preconditions.get("resourceVersion")
            if wanted and str(wanted) != str(kv.mod_revision):
                raise status.conflict(kind.plural, kind.group, name,
                                      f"Precondition failed: ResourceVersion in precondition: "
                                      f"{wanted}, ResourceVersion in object meta: "
                                      f"{kv.mod_revision}")
            if dry_run:
                return current, not meta.get("finalizers")
            if kind is self._namespaces() and not kind.namespaced:
                return await self._delete_namespace(kind, kv, current)
            gc_finalizer = self._gc_finalizer(options)
            if gc_finalizer and not meta.get("deletionTimestamp"):
                meta["finalizers"] = [*(meta.get("finalizers") or []), gc_finalizer]
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return current, False
                marked = objects.deepcopy(current)
                objects.meta(marked)["deletionTimestamp"] = objects.timestamp()
                objects.meta(marked)["deletionGracePeriodSeconds"] = 0
                revision = await self._commit(
                    kind, kv.key, [base.mod_revision_is(kv.key, kv.mod_revision)], marked,
                    registry.Claims())
                if not revision:
                    continue
                objects.meta(marked)["resourceVersion"] = str(revision)
                return marked, False
            try:
                revision = await self._delete_now(kind, kv, current)
            except _Raced:
                continue
            meta["resourceVersion"] = str(revision)
            return current, True
        raise status.conflict(kind.plural, kind.group, name)

    def _gc_finalizer(self, options: Obj) -> str:
        """The finalizer a delete leaves for the garbage collector, if one runs."""
        if not self.settings.garbage_collector:
            return ""
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        return {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(str(policy), "")

    async def _delete_now(self, kind: Kind, kv: base.KeyValue, current: Obj) -> int:
        claims = await self._prepare(kind, current, None)
        revision = await self._commit(kind, kv.key, [base.mod_revision_is(kv.key, kv.mod_revision)],
                                      None, claims)
        if not revision:
            raise _Raced()
        namespace = str(objects.meta(current).get("namespace") or "")
        if kind.namespaced and namespace:
            await self._finish_namespace(namespace)
        return revision

    async def delete_collection(self, kind: Kind, namespace: str, *,
                                labels: selectors.Selector = (),
                                fields: selectors.FieldSelector = (),
                                options: Obj | None = None) -> ListResult:
        found = await self.list(kind, namespace, labels=labels, fields=fields)
        deleted = []
        for obj in found.items:
            meta = objects.meta(obj)
            try:
                gone, _ = await self.delete(kind, str(meta.get("namespace") or ""),
                                            str(meta["name"]), options)
            except status.ApiError as err:
                if err.code != 404:
                    raise
                continue
            deleted.append(gone)
        return ListResult(deleted, await self.store.revision())

    # -- namespaces ----------------------------------------------------------

    async def _delete_namespace(self, kind: Kind, kv: base.KeyValue,
                                current: Obj) -> tuple[Obj, bool]:
        """Mark the namespace Terminating, delete its content, and remove it once empty
        (objects with finalizers keep it Terminating until they go)."""
        name = str(objects.meta(current)["name"])
        if not objects.meta(current).get("deletionTimestamp"):
            marked = objects.deepcopy(current)
            objects.meta(marked)["deletionTimestamp"] = objects.timestamp()
            marked.setdefault("status", {})["phase"] = "Terminating"
            revision = await self._commit(kind, kv.key, [base.mod_revision_is(kv.key, kv.mod_revision)],
                                          marked, registry.Claims())
            if not revision:
                raise status.conflict(kind.plural, kind.group, name)
            objects.meta(marked)["resourceVersion"] = str(revision)
            current = marked
        for other in self.registry.kinds():
            if not other.namespaced or not other.needs_namespace:
                continue
            for obj in (await self.list(other, name)).items:
                try:
                    await self.delete(other, name, str(objects.meta(obj)["name"]))
                except status.ApiError as err:
                    if err.code != 404:
                        raise
        gone = await self._finish_namespace(name)
        return current, gone

    async def _finish_namespace(self, namespace: str) -> bool:
        """Remove a Terminating namespace that has no content left."""
        ns_kind = self._namespaces()
        if ns_kind is None:
            return False
        key = self.key(ns_kind, "", namespace)
        kv = await self.store.get(key)
        if kv is None or not objects.meta(json.loads(kv.value)).get("deletionTimestamp"):
            return kv is None
        for other in self.registry.kinds():
            if other.namespaced and other.needs_namespace and (await self.store.range(
                    self.collection_key(other, namespace), limit=1)).kvs:
                return False
        result = await self.store.txn([base.mod_revision_is(key, kv.mod_revision)],
                                      [base.Delete(key)])
        return result.succeeded

    # -- watch -------------------------------------------------------------

    async def watch(self, kind: Kind, namespace: str = "", *, resource_version: int = 0,
                    labels: selectors.Selector = (), fields: selectors.FieldSelector = (),
                    initial: bool = False, encoded: bool = False) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version`` (0: from now); with ``initial`` first an
        ADDED event per current object, then INITIAL_END.  With ``encoded`` the events
        carry the objects' JSON (see :class:`WatchEvent`).  Raises ApiError 410
        (Expired) when the version is compacted.  A kind with a ``render`` hook has its
        objects rendered (and never sent as stored bytes)."""
        render = kind.render
        events = self._watch(kind, namespace, resource_version=resource_version,
                             labels=labels, fields=fields, initial=initial,
                             encoded=encoded and render is None)
        try:
            async for event in events:
                if render is not None and event.object is not None:
                    event = dataclasses.replace(event, object=render(event.object))
                yield event
        finally:
            await events.aclose()

    async def _watch(self, kind: Kind, namespace: str, *, resource_version: int,
                     labels: selectors.Selector, fields: selectors.FieldSelector,
                     initial: bool, encoded: bool) -> AsyncGenerator[WatchEvent, None]:
        prefix = self.collection_key(kind, namespace)
        start = resource_version + 1 if resource_version else 0
        everything = not labels and not fields
        if initial:
            found = await self.store.range(prefix)
            for kv in found.kvs:
                if encoded and everything:
                    yield WatchEvent("ADDED", None, kv.mod_revision,
                                     self._served(kv, kv.mod_revision))
                    continue
                obj = objects.from_json(kv.value, kv.mod_revision)
                if self._matches(obj, labels, fields):
                    yield WatchEvent("ADDED", obj, kv.mod_revision,
                                     self._served(kv, kv.mod_revision, obj) if encoded
                                     else None)
            yield WatchEvent("INITIAL_END", None, found.revision)
            start = found.revision + 1
        stream = self.store.watch(prefix, start)
        try:
            async for batch in stream:
                for event in batch:
                    if encoded and everything:
                        yield self._translate_all(event)
                    else:
                        yield self._translate(event, labels, fields, encoded)
        except base.Compacted as err:
            raise status.too_old(resource_version, err.compact_revision) from err
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    def _translate(self, event: base.Event, labels: selectors.Selector,
                   fields: selectors.FieldSelector, encoded: bool = False) -> WatchEvent:
        revision = event.kv.mod_revision
        old = None
        # the previous object is served by DELETED and matched against selectors; with
        # no selector a change only needs to know that there was one (in-process
        # watches, the sim's informers, take half the decoding)
        if event.prev is not None and (labels or fields or
                                       event.type is base.EventType.DELETE):
            old = objects.from_json(event.prev.value, event.prev.mod_revision)
        if event.type is base.EventType.DELETE:
            if old is not None and event.prev is not None and \
                    self._matches(old, labels, fields):
                objects.meta(old)["resourceVersion"] = str(revision)
                return WatchEvent("DELETED", old, revision,
                                  self._served(event.prev, revision, old) if encoded else None)
            return WatchEvent("PROGRESS", None, revision)
        new = objects.from_json(event.kv.value, revision)
        created = event.kv.create_revision == revision
        new_match = self._matches(new, labels, fields)
        if old is not None:
            old_match = self._matches(old, labels, fields)
        elif event.prev is not None:
            old_match = True  # no selector: the previous object matched
        else:
            old_match = new_match and not created
        if new_match:
            return WatchEvent("MODIFIED" if old_match else "ADDED", new, revision,
                              self._served(event.kv, revision, new) if encoded else None)
        if old_match and old is not None and event.prev is not None:
            objects.meta(old)["resourceVersion"] = str(revision)
            return WatchEvent("DELETED", old, revision,
                              self._served(event.prev, revision, old) if encoded else None)
        return WatchEvent("PROGRESS", None, revision)

    def _translate_all(self, event: base.Event) -> WatchEvent:
        """``_translate`` for a watch with no selector and ``encoded``: every object
        matches, so nothing needs decoding."""
        revision = event.kv.mod_revision
        if event.type is base.EventType.DELETE:
            if event.prev is None:
                return WatchEvent("PROGRESS", None, revision)
            return WatchEvent("DELETED", None, revision, self._served(event.prev, revision))
        changed = event.prev is not None or event.kv.create_revision != revision
        return WatchEvent("MODIFIED" if changed else "ADDED", None, revision,
                          self._served(event.kv, revision))


def _expires(kind: Kind) -> bool:
    """Objects of ``kind`` live on a lease of ``Settings.event_ttl``: Events."""
    return kind.kind == "Event" and kind.group in ("", "events.k8s.io")


def _rendered(kind: Kind, obj: Obj) -> Obj:
    return obj if kind.render is None else kind.render(obj)


def _remember(memory: collections.OrderedDict[Any, Any], key: Any, value: Any,
              limit: int) -> None:
    """Set ``memory[key]`` as its newest entry, forgetting the oldest past ``limit``
    (an OrderedDict: a plain dict's oldest entry costs a scan past every one deleted
    before it)."""
    memory[key] = value
    memory.move_to_end(key)
    if len(memory) > limit:
        memory.popitem(last=False)


def _apply_conflict(kind: Kind, name: str,
                    conflicts: list[server_apply.Conflict]) -> status.ApiError:
    count = len(conflicts)
    lines = [f'conflict with "{c.manager}": {c.field}' for c in conflicts]
    message = (f"Apply failed with {count} conflict{'s' if count > 1 else ''}: "
               + "\n".join(lines))
    err = status.conflict(kind.plural, kind.group, name)
    err.message = message
    err.args = (message,)
    assert err.details is not None
    err.details["causes"] = [{"reason": "FieldManagerConflict",
                              "message": f'conflict with "{c.manager}"', "field": c.field}
                             for c in conflicts]
    return err


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise status.bad_request(f"invalid resource version: {text!r}") from None
    if value < 0:
        raise status.bad_request(f"invalid resource version: {text!r}")
    return value


def parse_resource_version(text: str) -> int:
    """A resourceVersion query parameter as a Store revision (0 for '' or '0')."""
    return _parse_rv(text) if text else 0

