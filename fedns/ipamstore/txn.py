"""``Plan``: one IPAM transaction as the keys it compares and the keys it writes.

Every compared key is also read back when the transaction loses, so the caller's
mirror learns why in the same round trip.  No I/O here: ``manager.IPAM.commit``
runs a plan.
"""

from __future__ import annotations

import dataclasses

from fedns.store import base
from ipam import address


@dataclasses.dataclass
class Plan:
    """What one txn compares and writes (a None value deletes the key)."""

    compare: dict[bytes, base.Compare] = dataclasses.field(default_factory=dict)
    writes: dict[bytes, bytes | None] = dataclasses.field(default_factory=dict)
    reserve: list[tuple[str, address.Address]] = dataclasses.field(default_factory=list)
    leases: dict[bytes, int] = dataclasses.field(default_factory=dict)

    def expect(self, key: bytes, revision: int) -> None:
        """``key`` must still have this mod_revision (0: must be absent)."""
        self.compare[key] = (base.absent(key) if not revision
                             else base.mod_revision_is(key, revision))

    def success(self) -> list[base.Op]:
        return [base.Put(k, v, self.leases.get(k, 0)) if v is not None else base.Delete(k)
                for k, v in self.writes.items()]

    def reads(self) -> list[base.Op]:
        return [base.Get(k) for k in self.compare]

    def written(self, revision: int) -> list[tuple[bytes, base.KeyValue | None, int]]:
        """The writes as changes at ``revision``, for the mirror once the txn won."""
        return [(k, base.KeyValue(k, v, revision, revision, 1, self.leases.get(k, 0))
                 if v is not None else None, revision) for k, v in self.writes.items()]
