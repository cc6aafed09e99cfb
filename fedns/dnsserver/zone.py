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
drop only what they affect (:meth:`Zone.changed_since`).

Not for: talking to the Store (:mod:`fedns.dnsserver.source` feeds it) or answering
queries (:mod:`fedns.dnsserver.answer`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import logging
from collections.abc import Iterable
from typing import Any

from sortedcontainers import SortedList

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
    ttl: int  # the service's TTL, or CoreDNS's default 300
    priority: int  # the service's priority, or CoreDNS's default 10
    error: str = ""
    packed: bytes = b""  # the address in network order (A/AAAA rdata), else b""

    @property
    def depth(self) -> int:
        """Slashes in the key (CoreDNS's msg.Group compares them)."""
        return self.key.count(b"/")


def parse_record(key: bytes, value: bytes) -> Record:
    """The record for one key/value; a value that does not decode is a broken record."""
    service, ip, error = _parse_value(value)
    if error:
        return Record(key, service, 0, "", 0, 0, error=error)
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
        ttl=service.ttl or skydns.DEFAULT_TTL,
        priority=service.priority or skydns.DEFAULT_PRIORITY,
        packed=ip.packed if ip is not None else b"",
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

    def __init__(self, prefix: str = skydns.DEFAULT_PREFIX) -> None:
        self.prefix = skydns.name_to_key(".", prefix).encode()  # b"/skydns"
        self._inside = self.prefix + b"/"
        self._keys: SortedList = SortedList()
        self._records: dict[bytes, Record] = {}
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

    def put(self, key: bytes, value: bytes) -> None:
        if not key.startswith(self._inside):
            return
        if key not in self._records:
            self._keys.add(key)
        record = self._records[key] = parse_record(key, value)
        _check_target(self.prefix, record)
        self.version += 1
        self._log.append(key)

    def delete(self, key: bytes) -> None:
        if self._records.pop(key, None) is not None:
            self._keys.remove(key)
            self.version += 1
            self._log.append(key)

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

    def replace(self, items: Iterable[tuple[bytes, bytes]], revision: int) -> None:
        """Make the zone hold exactly ``items`` (a relist at ``revision``)."""
        records = {k: parse_record(k, v) for k, v in items if k.startswith(self._inside)}
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
                self.put(kv.key, kv.value)
            self.revision = max(self.revision, kv.mod_revision)


def _prefix_end(prefix: bytes) -> bytes:
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\xff" * (len(prefix) + 1)
    end[-1] += 1
    return bytes(end)
