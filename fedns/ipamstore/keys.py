"""The Store format of IPAM: every key under ``/fedns/ipam/`` and its JSON value.

This module is the only place that knows the layout; it does no I/O.

Layout (values are compact JSON)::

    /fedns/ipam/pools/<pool>                    the IPPool object (fedns.io/v1alpha1)
    /fedns/ipam/poolset                         ["<pool>", ...]
    /fedns/ipam/locks/<pool>                    {"by": "<who>", "reason": "..."}  (leased)
    /fedns/ipam/addrs/<pool>/<address>          {"pool", "address", "holders": [holder, ...]}
    /fedns/ipam/owners/<member>/<owner>/<ipvN>  {"pool", "address", "namespace", "service", "uid"}

- ``addrs``: one key per allocated address; a holder is ``{"member", "namespace",
  "service", "uid", "sharingKey", "ports": [["TCP", 80], ...]}``.  A non-shared
  address has one holder and its key is created only when absent.  Sharers
  (``metallb.io/allow-shared-ip``) append to the holder list of the same key, guarded
  by its mod_revision, so "address key absent" stays the check for every first holder.
- ``pools``: each pool is stored as the API serves it, an ``IPPool`` object whose
  ``spec`` is the pool's mapping (``pool.to_dict`` less ``name``, which is
  ``metadata.name``): the appliance API reads and writes these very keys, so a pool
  has one record whichever way it is changed.  A record of the older form (the bare
  mapping) is still read.
- ``owners``: one key per owner and family (``ipv4``/``ipv6``), written in the same
  transaction as the address key; ``<owner>`` is the Service uid (or ``~ns/svc``,
  quoted, when a Service has none).  Present exactly while the owner is a holder.
- ``poolset``: rewritten by every pool change and compared by the next one, so two
  concurrent pool edits cannot together create overlapping pools of one site.
- ``locks``: held (with a lease) by a pool edit that could strand addresses while it
  checks the holders; allocations into that pool require it absent.

Components that may contain ``/`` (member names, uids) are percent-quoted.  Pool
names cannot; addresses are written in canonical ``ipaddress`` form.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from fedns.kapi import objects
from ipam import address, ledger, pool

PREFIX = b"/fedns/ipam/"
POOL_API_VERSION, POOL_KIND = "fedns.io/v1alpha1", "IPPool"
POOLS = PREFIX + b"pools/"
POOLSET = PREFIX + b"poolset"
LOCKS = PREFIX + b"locks/"
ADDRS = PREFIX + b"addrs/"
OWNERS = PREFIX + b"owners/"
FAMILY_SEGMENT = {4: "ipv4", 6: "ipv6"}
SEGMENT_FAMILY = {name: family for family, name in FAMILY_SEGMENT.items()}


class KeyInvalid(ValueError):
    """A key under /fedns/ipam/ that this layout does not know."""


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _unquote(text: str) -> str:
    return urllib.parse.unquote(text)


def owner_id(uid: str, namespace: str, service: str) -> str:
    """The owner segment: the uid, or ``~namespace/service`` when there is none."""
    return uid if uid else f"~{namespace}/{service}"


# -- keys ---------------------------------------------------------------------


def pool_key(name: str) -> bytes:
    return POOLS + name.encode()


def lock_key(name: str) -> bytes:
    return LOCKS + name.encode()


def addr_key(pool_name: str, addr: address.Address) -> bytes:
    return ADDRS + f"{pool_name}/{addr}".encode()


def addr_prefix(pool_name: str) -> bytes:
    return ADDRS + f"{pool_name}/".encode()


def owner_key(member: str, owner: str, family: int) -> bytes:
    return OWNERS + f"{_quote(member)}/{_quote(owner)}/{FAMILY_SEGMENT[family]}".encode()


@dataclasses.dataclass(frozen=True)
class Parsed:
    """A key taken apart.  ``kind``: pool, poolset, lock, addr or owner."""

    kind: str
    pool: str = ""
    address: address.Address | None = None
    member: str = ""
    owner: str = ""
    family: int = 0


def parse_key(key: bytes) -> Parsed:
    """The inverse of the key builders; raises KeyInvalid for anything else."""
    if key == POOLSET:
        return Parsed("poolset")
    try:
        text = key.decode()
    except UnicodeDecodeError as err:
        raise KeyInvalid(f"{key!r}: not UTF-8") from err
    for prefix, kind in ((POOLS, "pool"), (LOCKS, "lock")):
        if key.startswith(prefix):
            name = text[len(prefix):]
            if not name or "/" in name:
                raise KeyInvalid(f"{text}: expected {prefix.decode()}<pool>")
            return Parsed(kind, pool=name)
    if key.startswith(ADDRS):
        pool_name, _, addr_text = text[len(ADDRS):].partition("/")
        try:
            family, value = address.parse_address(addr_text)
        except Exception as err:
            raise KeyInvalid(f"{text}: expected {ADDRS.decode()}<pool>/<address>") from err
        return Parsed("addr", pool=pool_name, address=address.to_address(family, value))
    if key.startswith(OWNERS):
        parts = text[len(OWNERS):].split("/")
        if len(parts) != 3 or parts[2] not in SEGMENT_FAMILY:
            raise KeyInvalid(f"{text}: expected {OWNERS.decode()}<member>/<owner>/ipv4|ipv6")
        return Parsed("owner", member=_unquote(parts[0]), owner=_unquote(parts[1]),
                      family=SEGMENT_FAMILY[parts[2]])
    raise KeyInvalid(f"{text}: not an IPAM key")


# -- values -------------------------------------------------------------------


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=False).encode()


def pool_spec(p: pool.Pool) -> dict[str, Any]:
    """An IPPool's ``spec``: the pool's mapping without its name."""
    spec = pool.to_dict(p)
    del spec["name"]
    return spec


def pool_object(p: pool.Pool, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The IPPool object of ``p``; ``meta`` is the metadata of the record it replaces
    (kept, with the generation bumped when the spec changes), None for a new one."""
    spec = pool_spec(p)
    if meta:
        metadata = {k: v for k, v in meta.items() if k != "resourceVersion"}
        metadata["generation"] = int(metadata.get("generation") or 1) + 1
    else:
        metadata = {"name": p.name, "uid": objects.new_uid(),
                    "creationTimestamp": objects.timestamp(), "generation": 1}
    return {"apiVersion": POOL_API_VERSION, "kind": POOL_KIND, "metadata": metadata,
            "spec": spec}


def pool_to_json(p: pool.Pool, meta: Mapping[str, Any] | None = None) -> bytes:
    return objects.to_json(pool_object(p, meta))


def pool_record(data: bytes) -> tuple[pool.Pool, dict[str, Any]]:
    """The pool in a pool record and the record's metadata ({} for the older form)."""
    record = json.loads(data)
    if isinstance(record, dict) and record.get("kind") == POOL_KIND:
        meta = record.get("metadata")
        spec = record.get("spec")
        if not isinstance(meta, dict) or not isinstance(spec, dict):
            raise ValueError("an IPPool record needs metadata and spec objects")
        return pool.from_dict({**spec, "name": meta.get("name")}), meta
    return pool.from_dict(record), {}


def pool_from_json(data: bytes) -> pool.Pool:
    return pool_record(data)[0]


def poolset_to_json(names: Sequence[str]) -> bytes:
    return _dump(sorted(names))


def holder_to_dict(a: ledger.Allocation) -> dict[str, Any]:
    return {"member": a.member, "namespace": a.namespace, "service": a.service,
            "uid": a.uid, "sharingKey": a.sharing_key,
            "ports": [[protocol, number] for protocol, number in a.ports]}


def addr_to_json(holders: Sequence[ledger.Allocation]) -> bytes:
    """The address record: every holder of one address (same pool and address)."""
    first = holders[0]
    return _dump({"pool": first.pool, "address": str(first.address),
                  "holders": [holder_to_dict(h) for h in holders]})


def addr_from_json(pool_name: str, addr: address.Address,
                   data: bytes) -> tuple[ledger.Allocation, ...]:
    """The holders of the address record at ``addrs/<pool_name>/<addr>``."""
    record = json.loads(data.decode())  # UTF-8 as written; no encoding detection
    return tuple(
        ledger.Allocation(h["member"], h["namespace"], h["service"], h.get("uid", ""),
                          pool_name, addr, h.get("sharingKey", ""),
                          tuple((p, int(n)) for p, n in h.get("ports", ())))
        for h in record["holders"])


@dataclasses.dataclass(frozen=True)
class OwnerRecord:
    """Which address an owner holds in one family."""

    pool: str
    address: address.Address
    namespace: str
    service: str
    uid: str


def owner_to_json(a: ledger.Allocation) -> bytes:
    return _dump({"pool": a.pool, "address": str(a.address), "namespace": a.namespace,
                  "service": a.service, "uid": a.uid})


def owner_from_json(data: bytes) -> OwnerRecord:
    record = json.loads(data.decode())
    family, value = address.parse_address(record["address"])
    return OwnerRecord(record["pool"], address.to_address(family, value),
                       record["namespace"], record["service"], record.get("uid", ""))


def lock_to_json(by: str, reason: str) -> bytes:
    return _dump({"by": by, "reason": reason})
