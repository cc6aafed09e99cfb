"""Objects of any kind on one member: get, server-side apply and delete, fedns-owned only.

fedns marks everything it creates with the label ``app.kubernetes.io/managed-by: fedns``
and only ever changes or deletes objects that carry it: :meth:`Objects.apply` refuses
to take over an existing object without the label, :meth:`Objects.delete` refuses to
delete one (both raise :class:`NotManaged`), so a name clash with a user's own object
never destroys it.  Writes are server-side apply (``PATCH`` with
``application/apply-patch+yaml``, a JSON body, ``fieldManager``, ``force``), as
``kubectl apply --server-side`` does: applying the same intent twice writes nothing the
second time, and fields fedns stops sending are removed.

Every failure is one line naming the member, the kind, namespace/name and the member's
own message, raised as a narrow subclass of :class:`MemberWriteError` (a temporary
error: the controller tries again later).  Not here: informers (:mod:`informer`),
connections and credentials (:mod:`transport`), what the objects should contain
(``propagate``).
"""

from __future__ import annotations

import copy
from typing import Any

from fedns import errors
from fedns.members import kinds, transport

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "fedns"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"  # a labelSelector for informers
FIELD_MANAGER = "fedns"
APPLY_PATCH = "application/apply-patch+yaml"
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
# metadata the API server owns: an apply sends the intent, not a copy of a stored object
_SERVER_META = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
                "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")


class MemberWriteError(errors.TemporaryError):
    """A write to the member failed; it will be retried."""


class ObjectGone(MemberWriteError):
    """The object written to was deleted meanwhile (HTTP 404): nothing to retry, its
    deletion has its own watch event."""


class WriteConflict(MemberWriteError):
    """The member refused the write as a conflict (HTTP 409): another field manager owns
    a field, or the object changed meanwhile; it will be retried."""


class Rejected(MemberWriteError):
    """The member refused the request (HTTP 400, 401, 403, 405, 415 or 422: the object
    is invalid or fedns may not write it); retried after a longer delay, in case the
    object or the member's permissions are fixed meanwhile."""


class NotManaged(MemberWriteError):
    """The object exists on the member without the label app.kubernetes.io/managed-by=fedns:
    fedns does not overwrite or delete what it did not create."""


class UnknownKind(MemberWriteError):
    """The member serves no resource for the object's apiVersion and kind."""


class MemberReadError(errors.TemporaryError):
    """A read from the member failed; it will be retried."""


SLOW = 30.0  # seconds before a write that needs a person's fix is tried again
_REJECTED = frozenset({400, 401, 403, 405, 415, 422})


def is_managed(obj: dict[str, Any] | None) -> bool:
    """True when ``obj`` carries fedns's managed-by label."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def stamped(obj: dict[str, Any], resource: kinds.Resource) -> dict[str, Any]:
    """The body fedns applies for ``obj``: a copy with the managed-by label, the
    namespace filled ("default" when a namespaced object names none, as kubectl does;
    none for a cluster-scoped kind) and no server-owned metadata."""
    body = copy.deepcopy(obj)
    body.setdefault("apiVersion", resource.api_version)
    body.setdefault("kind", resource.kind)
    meta = body.setdefault("metadata", {})
    for key in _SERVER_META:
        meta.pop(key, None)
    if resource.namespaced:
        meta["namespace"] = meta.get("namespace") or "default"
    else:
        meta.pop("namespace", None)
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY}
    return body


class Objects:
    """Generic object access on one member (named ``member`` in messages)."""

    def __init__(self, member: str, transport_: transport.Transport) -> None:
        self.member = member
        self._transport = transport_
        self._discovered: dict[tuple[str, str], kinds.Resource] = {}

    def _failure(self, cls: type[errors.TemporaryError], action: str, what: str,
                 err: BaseException) -> errors.TemporaryError:
        """One line: member, action, kind namespace/name, then the member's words."""
        if isinstance(err, transport.StatusError):
            if issubclass(cls, MemberWriteError):
                if err.status == 409:
                    cls = WriteConflict
                elif err.status in _REJECTED:
                    cls = Rejected
            detail = str(err)
        else:
            detail = transport.describe(err)
        message = f"member {self.member!r}: {action} {what}: {detail}"
        slow = cls in (Rejected, NotManaged, UnknownKind)
        return cls(message, delay=SLOW) if slow else cls(message)

    # -- kinds ---------------------------------------------------------------

    async def resource_for(self, api_version: str, kind: str) -> kinds.Resource:
        """The resource of objects with ``apiVersion`` and ``kind``: a well-known one,
        else the member's discovery document for that group and version (kept)."""
        known = kinds.for_kind(api_version, kind) or self._discovered.get((api_version, kind))
        if known is not None:
            return known
        what = f"{kind or '(no kind)'} of apiVersion {api_version or '(none)'}"
        if not api_version or not kind:
            raise UnknownKind(f"member {self.member!r}: no resource for {what}", delay=SLOW)
        group, version = kinds.split_api_version(api_version)
        root = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self._transport.request_json("GET", root)
        except transport.StatusError as err:
            if err.status == 404:
                raise UnknownKind(f"member {self.member!r}: no resource for {what}: "
                                  f"{api_version} is not served", delay=SLOW) from err
            raise self._failure(MemberWriteError, "discover", what, err) from err
        except Exception as err:
            raise self._failure(MemberWriteError, "discover", what, err) from err
        for entry in listing.get("resources") or []:
            if entry.get("kind") == kind and "/" not in str(entry.get("name", "")):
                found = kinds.Resource(group, version, str(entry["name"]), kind,
                                       bool(entry.get("namespaced")))
                self._discovered[(api_version, kind)] = found
                return found
        raise UnknownKind(f"member {self.member!r}: no resource for {what}: {api_version} "
                          f"has no such kind", delay=SLOW)

    # -- reads ---------------------------------------------------------------

    async def get(self, resource: kinds.Resource, namespace: str, name: str
                  ) -> dict[str, Any] | None:
        """The object as the member stores it, or None when there is none."""
        return await self._get(resource, namespace, name, MemberReadError, "get")

    async def _get(self, resource: kinds.Resource, namespace: str, name: str,
                   cls: type[errors.TemporaryError], action: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self._transport.request_json(
                "GET", resource.object_path(namespace, name))
        except transport.StatusError as err:
            if err.status == 404:
                return None
            raise self._failure(cls, action, resource.describe(namespace, name), err) from err
        except Exception as err:
            raise self._failure(cls, action, resource.describe(namespace, name), err) from err
        return obj

    # -- writes --------------------------------------------------------------

    async def apply(self, obj: dict[str, Any], *, resource: kinds.Resource | None = None,
                    field_manager: str = FIELD_MANAGER, force: bool = True,
                    adopt: bool = False, checked: bool = False) -> dict[str, Any]:
        """Server-side apply ``obj`` (stamped with the managed-by label); returns the
        object as the member stored it.

        ``resource`` defaults to the one of the object's apiVersion and kind.  An
        existing object without the label raises :class:`NotManaged` unless ``adopt``
        (then fedns takes it over); ``checked`` says the caller's own watch of the
        member already answered that (the read is skipped).  ``force`` takes fields
        other managers own, as controllers do; without it such a field is a
        :class:`WriteConflict`."""
        if resource is None:
            resource = await self.resource_for(*kinds.of_object(obj))
        body = stamped(obj, resource)
        name = str(body["metadata"].get("name") or "")
        if not name:
            raise ValueError(f"member {self.member!r}: apply {resource.kind}: the object "
                             "has no metadata.name")
        namespace = str(body["metadata"].get("namespace") or "")
        what = resource.describe(namespace, name)
        if not adopt and not checked:
            # one read first: server-side apply would take over a user's object silently
            # (it can only be told "create or update"); an object created between this
            # read and the apply below is the one case left
            current = await self._get(resource, namespace, name, MemberWriteError, "apply")
            if current is not None and not is_managed(current):
                raise NotManaged(f"member {self.member!r}: {what} exists without the label "
                                 f"{MANAGED_SELECTOR}: fedns will not overwrite it",
                                 delay=SLOW)
        params = {"fieldManager": field_manager}
        if force:
            params["force"] = "true"
        try:
            applied: dict[str, Any] = await self._transport.request_json(
                "PATCH", resource.object_path(namespace, name), params=params, body=body,
                content_type=APPLY_PATCH)
        except Exception as err:
            raise self._failure(MemberWriteError, "apply", what, err) from err
        return applied

    async def delete(self, resource: kinds.Resource, namespace: str, name: str, *,
                     propagation: str = "Background", only_if_managed: bool = True) -> bool:
        """Delete one object; True when a delete was sent, False when it was already
        gone.  With ``only_if_managed`` an object without the managed-by label raises
        :class:`NotManaged` and stays; the delete names the uid that was checked, so an
        object replaced meanwhile is not deleted (a :class:`WriteConflict`)."""
        if propagation not in PROPAGATION_POLICIES:
            raise ValueError(f"propagation must be one of {', '.join(PROPAGATION_POLICIES)}, "
                             f"got {propagation!r}")
        what = resource.describe(namespace, name)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                   "propagationPolicy": propagation}
        if only_if_managed:
            current = await self._get(resource, namespace, name, MemberWriteError, "delete")
            if current is None:
                return False
            if not is_managed(current):
                raise NotManaged(f"member {self.member!r}: {what} exists without the label "
                                 f"{MANAGED_SELECTOR}: fedns will not delete it", delay=SLOW)
            uid = (current.get("metadata") or {}).get("uid")
            if uid:
                options["preconditions"] = {"uid": uid}
        try:
            await self._transport.request("DELETE", resource.object_path(namespace, name),
                                          body=options)
        except transport.StatusError as err:
            if err.status == 404:
                return False
            raise self._failure(MemberWriteError, "delete", what, err) from err
        except Exception as err:
            raise self._failure(MemberWriteError, "delete", what, err) from err
        return True
