"""An in-memory copy of the SkyDNS keys under a prefix, parsed once, sorted by key.

Keys stay bytes, in etcd's byte order, so a prefix read is two bisections and a
slice: O(log n + k).  Each value is parsed into a :class:`Record` when it arrives,
with what CoreDNS recomputes per query (host type, default TTL and priority) done
once.  A value CoreDNS could not decode is kept as a broken record: a query that
touches it fails (SERVFAIL) as it would in CoreDNS.  A record whose target name no
DNS message can carry (a host that is not a name, or an address at a key whose name
is not one: :func:`fedns.dnsserver.names.writable`) is kept too, the answers leave
that target out, and it is logged as a warning when it arrives (put or relisted),
never per query.  The zone remembers the keys of its last changes, so a cache can
drop only what they affect (:meth:`Zone.changed_since`).  A record on an etcd lease
answers with the lease's remaining time as CoreDNS does
(:func:`fedns.dnsserver.leases.record_ttl`): the zone keeps each lease's records
and rebuilds their TTL when the lease's changes (:meth:`Zone.refresh_leases`, each
second), so an answer reads a plain number.

Not for: talking to the Store (:mod:`fedns.dnsserver.source` feeds it) or answering
queries (:mod:`fedns.dnsserver.answer`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sortedcontainers import SortedList

from fedns.dnsserver import leases as leases_mod
from fedns.dnsserver import names
from fedns.records import skydns

log = logging.getLogger(__name__)

# Host types, as CoreDNS's msg.Service.HostType() (values are DNS type codes).
A, CNAME, TXT, AAAA, SRV = 1, 5, 16, 28, 33
CHANGE_LOG = 65_536  # changed keys remembered for changed_since()


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One key's value as the etcd plugin sees it after ``loopNodes``."""

    key: bytes
    service: skydns.Service
    kind: int  # A, AAAA, CNAME, TXT, SRV (leaf label starting with '_'), or 0 if broken
    address: str  # the host as a normalised IP when it is one, else ""
    ttl: int  # the service's TTL and its lease's as CoreDNS combines them, else 300
    priority: int  # the service's priority, or CoreDNS's default 10
    error: str = ""
    packed: bytes = b""  # the address in network order (A/AAAA rdata), else b""
    lease: int = 0  # the etcd lease the key sits on, 0 for none

    @property
    def depth(self) -> int:
        """Slashes in the key (CoreDNS's msg.Group compares them)."""
        return self.key.count(b"/")


def parse_record(key: bytes, value: bytes, lease: int = 0, lease_ttl: int = 0) -> Record:
    """The record for one key/value, on ``lease`` whose TTL is ``lease_ttl`` (0:
    none, or unknown); a value that does not decode is a broken record."""
    service, ip, error = _parse_value(value)
    if error:
        return Record(key, service, 0, "", 0, 0, error=error, lease=lease)
    leaf = key.rstrip(b"/").rsplit(b"/", 1)[-1]
    if leaf.startswith(b"_"):
        kind = SRV
    elif ip is not None:
        kind = A if ip.version == 4 else AAAA
    elif service.text and not service.host:
        kind = TXT
    else:
        kind = CNAME
    return Record(
        key=key, service=service, kind=kind, address=str(ip) if ip is not None else "",
        ttl=leases_mod.record_ttl(service.ttl, lease_ttl),
        priority=service.priority or skydns.DEFAULT_PRIORITY,
        packed=ip.packed if ip is not None else b"",
        lease=lease,
    )


@functools.lru_cache(maxsize=1 << 14)
def _parse_value(value: bytes) -> tuple[skydns.Service, Any, str]:
    """(service, its host as an IP or None, error) of one value.  Memoized: a
    service's leaves at every tier share their values (a host and a TTL), so most
    values arrive several times."""
    try:
        service = skydns.Service.from_json(value)
    except skydns.BadValue as err:
        return skydns.Service(), None, str(err)
    return service, service.host_address(), ""


def _check_target(prefix: bytes, record: Record) -> None:
    """Warn when no answer can name ``record``'s target: its host, or for an address
    its key's name (an SRV, MX or NS target), is not a name a DNS message can carry."""
    kind, service = record.kind, record.service
    if kind == CNAME and names.parse_host(service.host) is None:
        log.warning("%.512s: host %.300r is not a name a DNS message can carry (labels of 1 "
                    "to 63 octets, 255 in all): answers leave it out",
                    record.key.decode("utf-8", "replace"), service.host)
    elif kind in (A, AAAA) and not names.writable(
            names.key_labels(prefix, record.key, service.targetstrip)):
        log.warning("%.512s: the key's name is not a name a DNS message can carry (labels of "
                    "1 to 63 octets, 255 in all): SRV, MX and NS answers leave it out",
                    record.key.decode("utf-8", "replace"))


class Zone:
    """The records under ``prefix``; ``version`` counts the changes applied (one per
    key put or deleted, one per relist)."""

    def __init__(self, prefix: str = skydns.DEFAULT_PREFIX,
                 leases: leases_mod.Leases | None = None) -> None:
        self.prefix = skydns.name_to_key(".", prefix).encode()  # b"/skydns"
        self._inside = self.prefix + b"/"
        self._keys: SortedList = SortedList()
        self._records: dict[bytes, Record] = {}
        self.leases = leases if leases is not None else leases_mod.Leases()
        # the keys on each lease, and the lease TTL their records were built with
        self._on_lease: dict[int, set[bytes]] = {}
        self._lease_ttl: dict[int, int] = {}
        self.revision = 0  # the Store revision this zone reflects
        self.version = 0
        # the key of each change since version _logged_from, the last CHANGE_LOG of them
        self._log: collections.deque[bytes] = collections.deque(maxlen=CHANGE_LOG)
        self._logged_from = 0

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: bytes) -> Record | None:
        """The record at exactly ``key``."""
        return self._records.get(key)

    def under(self, prefix: bytes) -> list[Record]:
        """Every record whose key starts with ``prefix``, in key order."""
        records = self._records
        # irange walks the sorted sublists: no positional index to rebuild after writes
        return [records[k] for k in self._keys.irange(prefix, _prefix_end(prefix),
                                                      inclusive=(True, False))]

    def lease_ids(self) -> set[int]:
        """The leases some record sits on."""
        return set(self._on_lease)

    def _lease_ttl_of(self, lease: int) -> int:
        ttl = self._lease_ttl.get(lease)
        if ttl is None:
            ttl = self._lease_ttl[lease] = self.leases.ttl(lease)
        return ttl

    def _unlease(self, record: Record | None) -> None:
        if record is None or not record.lease:
            return
        keys = self._on_lease.get(record.lease)
        if keys is not None:
            keys.discard(record.key)
            if not keys:
                del self._on_lease[record.lease]
                self._lease_ttl.pop(record.lease, None)

    def put(self, key: bytes, value: bytes, lease: int = 0) -> None:
        if not key.startswith(self._inside):
            return
        old = self._records.get(key)
        if old is None:
            self._keys.add(key)
        else:
            self._unlease(old)
        if lease:
            self._on_lease.setdefault(lease, set()).add(key)
            record = parse_record(key, value, lease, self._lease_ttl_of(lease))
        else:
            record = parse_record(key, value)
        self._records[key] = record
        _check_target(self.prefix, record)
        self.version += 1
        self._log.append(key)

    def delete(self, key: bytes) -> None:
        old = self._records.pop(key, None)
        if old is not None:
            self._unlease(old)
            self._keys.remove(key)
            self.version += 1
            self._log.append(key)

    def refresh_leases(self) -> int:
        """Rebuild the records whose lease's TTL has changed since they were built
        (a second has passed, or the Store said more); returns how many.  Each
        counts as a change: cached answers that read it are dropped."""
        changed = 0
        for lease, keys in self._on_lease.items():
            ttl = self.leases.ttl(lease)
            if ttl == self._lease_ttl.get(lease):
                continue
            self._lease_ttl[lease] = ttl
            for key in keys:
                record = self._records[key]
                if record.kind:  # a broken record has no TTL to give
                    self._records[key] = dataclasses.replace(
                        record, ttl=leases_mod.record_ttl(record.service.ttl, ttl))
                self.version += 1
                self._log.append(key)
                changed += 1
        return changed

    def changed_since(self, version: int, limit: int = CHANGE_LOG) -> list[bytes] | None:
        """The keys put or deleted after ``version``, oldest first; None when the zone
        cannot tell (a relist since, or more changes than it remembers) or there are
        more than ``limit``."""
        count = self.version - version
        if count == 0:
            return []
        if version < self._logged_from or not 0 < count <= min(limit, len(self._log)):
            return None
        # walked from the newest end: the cost is the changes asked for, not the log
        newest = list(itertools.islice(reversed(self._log), count))
        newest.reverse()
        return newest

    def replace(self, items: Iterable[tuple[bytes, bytes]], revision: int,
                leases: Mapping[bytes, int] | None = None) -> None:
        """Make the zone hold exactly ``items`` (a relist at ``revision``), the keys
        in ``leases`` on those leases."""
        leases = leases or {}
        self._on_lease = {}
        self._lease_ttl = {}
        records = {}
        for key, value in items:
            if not key.startswith(self._inside):
                continue
            lease = leases.get(key, 0)
            if lease:
                self._on_lease.setdefault(lease, set()).add(key)
                records[key] = parse_record(key, value, lease, self._lease_ttl_of(lease))
            else:
                records[key] = parse_record(key, value)
        for record in records.values():
            _check_target(self.prefix, record)
        self._records = records
        self._keys = SortedList(records)
        self.revision = revision
        self.version += 1
        self._log.clear()
        self._logged_from = self.version

    def apply(self, events: Iterable[Any]) -> None:
        """Apply Store watch events (``.type.name`` PUT or DELETE, ``.kv``)."""
        for event in events:
            kv = event.kv
            if event.type.name == "DELETE":
                self.delete(kv.key)
            else:
                self.put(kv.key, kv.value, kv.lease)
            self.revision = max(self.revision, kv.mod_revision)


def _prefix_end(prefix: bytes) -> bytes:
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\xff" * (len(prefix) + 1)
    end[-1] += 1
    return bytes(end)
