"""The server's response cache: encoded answers kept until a zone change can alter them.  Pure.

An answer is a function of the request, the client's site, the transport, the settings
and what it read from the zone: the key paths it looked up (a name's records are every
key at or under its path, :func:`fedns.dnsserver.backend.services`) and, when it holds
the SOA, the zone revision (the serial).  So each entry is kept with those paths, and a
change to key ``K`` drops exactly the entries that read ``K`` or a parent of it (``K``
cut at any ``/``): the name itself, the names that aggregate it, CNAMEs and glue that
reached it, NXDOMAIN and NODATA answers for it.  An entry holding the serial is kept
with the serial's offset and patched when it is served under a newer revision, so
negative answers survive unrelated changes too.  An entry whose reads are unknown (a
failure while answering) is dropped on any change or revision; a relist, or more than
``limit`` entries, drops them all.

Entries live in ``slots`` (one per transport) that share the index of reads.

Not for: computing answers, or knowing what changed (:meth:`Zone.changed_since`).
"""

from __future__ import annotations

import struct
from collections.abc import Hashable, Iterable

Key = Hashable
Entry = tuple[int, Key]  # (slot, key)
NO_SERIAL = -1

_SERIAL = struct.Struct("!I")


class ResponseCache:
    """Encoded responses by slot and request key, each dropped when what it read
    changes."""

    def __init__(self, limit: int, slots: int = 1) -> None:
        self.limit = limit
        # responses that hold no serial, per slot: the hot path reads these directly
        self.entries: tuple[dict[Key, bytes], ...] = tuple({} for _ in range(slots))
        self.tiers: dict[Entry, str] = {}  # nearest-answer tier of an entry, for metrics
        # responses that hold the serial: [response, the serial's offset, the serial]
        self._serial: dict[Entry, list] = {}
        self._readers: dict[bytes, set[Entry]] = {}  # key path -> entries that read it
        self._volatile: set[Entry] = set()  # entries whose reads are unknown
        self._links = 0  # paths registered since the last clear, to bound _readers

    def __len__(self) -> int:
        return sum(map(len, self.entries)) + len(self._serial)

    def get(self, slot: int, key: Key, serial: int) -> bytes | None:
        """The response for ``key`` under the zone's current ``serial``, or None."""
        found = self.entries[slot].get(key)
        if found is not None or not self._serial:
            return found
        held = self._serial.get((slot, key))
        if held is None:
            return None
        response, offset, old = held
        if old != serial:
            response = response[:offset] + _SERIAL.pack(serial) + response[offset + 4:]
            held[0], held[2] = response, serial
        return response

    def put(self, slot: int, key: Key, response: bytes, paths: Iterable[bytes] | None,
            serial_at: int = NO_SERIAL, serial: int = 0, tier: str = "") -> None:
        """Keep ``response`` for ``key``; ``paths``: the key paths it read (None:
        unknown); ``serial_at``: the offset of the ``serial`` it holds, if any."""
        if len(self) >= self.limit or self._links >= 8 * self.limit:
            self.clear()
        entry = (slot, key)
        if serial_at == NO_SERIAL:
            self.entries[slot][key] = response
            self._serial.pop(entry, None)
        else:
            self._serial[entry] = [response, serial_at, serial]
            self.entries[slot].pop(key, None)
        if tier:
            self.tiers[entry] = tier
        if paths is None:
            self._volatile.add(entry)
            return
        readers = self._readers
        for path in paths:
            found = readers.get(path)
            if found is None:
                readers[path] = {entry}
            else:
                found.add(entry)
            self._links += 1

    def changed(self, keys: Iterable[bytes]) -> None:
        """Drop the entries that read any of ``keys`` (zone keys put or deleted)."""
        if self._volatile:
            self.new_revision()
        readers = self._readers
        if not readers:
            return
        for key in keys:
            cut = key.find(b"/", 1)
            while cut != -1:
                found = readers.pop(key[:cut], None)
                if found:
                    self._drop(found)
                cut = key.find(b"/", cut + 1)
            found = readers.pop(key, None)
            if found:
                self._drop(found)

    def new_revision(self) -> None:
        """Drop the entries whose reads are unknown (the others patch their serial)."""
        self._drop(self._volatile)
        self._volatile = set()

    def clear(self) -> None:
        for entries in self.entries:
            entries.clear()
        self.tiers.clear()
        self._serial.clear()
        self._readers.clear()
        self._volatile.clear()
        self._links = 0

    def _drop(self, dropped: Iterable[Entry]) -> None:
        entries, held, tiers = self.entries, self._serial, self.tiers
        for entry in dropped:
            entries[entry[0]].pop(entry[1], None)
            held.pop(entry, None)
            tiers.pop(entry, None)
