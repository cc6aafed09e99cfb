"""IPPools at the API: IPAM's own pool records, validated at the write, counted at read.

An IPPool object *is* the pool record under ``/fedns/ipam/pools/`` (``kinds.IPPOOLS``
points kapi there), so ``kubectl``, ``fedns pool`` and the config at start change
one record, and each sees what the others did.  This module adds the three hooks
that make that safe:

- ``validate``: the spec must be a valid pool (422 naming the field and value);
- ``commit``: the write goes through IPAM (``IPAM.write_pool_record``) with the
  same set checks as ``fedns pool apply`` — no overlap within a site (422), no
  address in use stranded by a shrink or a delete (409, naming the holders; drain
  first) — and compared at the revision kapi read;
- ``render``: ``status`` is computed from IPAM's live counts when served.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from fedns import errors, kinds
from fedns.ipamstore import keys
from fedns.kapi import objects, registry
from fedns.kapi import status as kapi_status
from ipam import errors as ipam_errors
from ipam import pool as ipam_pool

Obj = dict[str, Any]
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")


def kind(ipam: Any) -> registry.Kind:
    """The IPPool kind with its hooks bound to ``ipam``."""
    return dataclasses.replace(kinds.IPPOOLS, validate=validate,
                               render=functools.partial(render, ipam),
                               commit=functools.partial(commit, ipam))


def _cause(name: str, err: errors.FednsError) -> tuple[str, str]:
    """A pool error as a (field, message) cause: ``pool "x": addresses[0]: ...``
    becomes ``("spec.addresses[0]", "...")``."""
    text = str(err)
    prefix = ipam_pool.describe(name) + ": "
    if text.startswith(prefix):
        field, sep, message = text[len(prefix):].partition(": ")
        if sep and " " not in field:
            return f"spec.{field}", message
        return "spec", text[len(prefix):]
    return "spec", text


def parse(obj: Obj) -> ipam_pool.Pool:
    """The pool an IPPool object describes; raises PoolInvalid."""
    name = str(objects.meta(obj).get("name") or "")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise ipam_errors.PoolInvalid(
            f"{ipam_pool.describe(name)}: spec: expected a mapping with site and addresses")
    if "name" in spec:
        raise ipam_errors.PoolInvalid(
            f"{ipam_pool.describe(name)}: name: unknown field (the name is metadata.name)")
    return ipam_pool.from_dict({**spec, "name": name})


def validate(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    name = str(objects.meta(new).get("name") or "")
    causes = [(field, "unknown field") for field in new if field not in TOP_LEVEL]
    try:
        parse(new)
    except ipam_errors.PoolInvalid as err:
        causes.append(_cause(name, err))
    return causes


async def commit(ipam: Any, key: bytes, expected: int, obj: Obj | None,
                 value: bytes | None) -> int:
    name = key[len(keys.POOLS):].decode()
    new = None
    if obj is not None:
        new = parse(obj)
        if "status" in obj:  # computed at read, never stored
            obj = {k: v for k, v in obj.items() if k != "status"}
            value = objects.to_json(obj)
    try:
        return int(await ipam.write_pool_record(name, expected, new, value))
    except (ipam_errors.PoolInvalid, ipam_errors.PoolOverlap,
            ipam_errors.PoolDuplicate) as err:
        raise kapi_status.invalid(kinds.IPPOOLS.kind, kinds.GROUP, name,
                                  [_cause(name, err)]) from err
    except (ipam_errors.PoolInUse, errors.TemporaryError) as err:
        raise kapi_status.conflict(kinds.IPPOOLS.plural, kinds.GROUP, name, str(err)) from err


def render(ipam: Any, obj: Obj) -> Obj:
    """``obj`` with its status: exact counts (strings: an IPv6 /64 does not fit a JSON
    number safely), the state, and the Accepted condition (a stored pool was
    validated at its write)."""
    name = objects.meta(obj).get("name")
    counts = [u for u in ipam.usage() if u.pool == name]
    capacity = sum(u.capacity for u in counts)
    used = sum(u.used for u in counts)
    spec = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    status: Obj = {
        "capacity": str(capacity), "used": str(used), "free": str(capacity - used),
        "state": "Draining" if spec.get("draining") else "Active",
        "families": {u.family_name: {"capacity": str(u.capacity), "used": str(u.used),
                                     "free": str(u.free)} for u in counts},
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Applied",
                        "message": ""}],
    }
    return {**obj, "status": status}
