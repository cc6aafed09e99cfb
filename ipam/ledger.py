"""Who holds which address: allocation records and the in-memory ledger of them.

The ledger indexes allocations by address, by owner and by sharing key so that an
allocation decision never scans every allocation.  It mirrors the Store's allocation
keys (the truth) and is kept by the caller; it does no I/O and does not know which
addresses are free (see ``ipam.index``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Iterator

from ipam import address, errors

Port = tuple[str, int]  # (protocol, port), e.g. ("TCP", 80)
Owner = tuple[str, str, str, str]  # (member, namespace, service, uid)


@dataclasses.dataclass(frozen=True)
class Allocation:
    """One address held by one Service of one member cluster."""

    member: str
    namespace: str
    service: str
    uid: str
    pool: str
    address: address.Address
    sharing_key: str = ""
    ports: tuple[Port, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            family, value = address.parse_address(self.address)
            object.__setattr__(self, "address", address.to_address(family, value))
        object.__setattr__(self, "ports", tuple((str(p).upper(), int(n)) for p, n in self.ports))

    @property
    def family(self) -> int:
        return self.address.version

    @property
    def owner(self) -> Owner:
        return (self.member, self.namespace, self.service, self.uid)

    def describe(self) -> str:
        """``member/namespace/service``, as messages name a holder."""
        return f"{self.member}/{self.namespace}/{self.service}"


class Ledger:
    """Allocations indexed by address, owner, and (member, sharing key, family)."""

    def __init__(self, allocations: Iterable[Allocation] = ()) -> None:
        self._by_address: dict[address.Address, dict[Owner, Allocation]] = {}
        self._by_owner: dict[Owner, dict[int, Allocation]] = {}
        self._by_key: dict[tuple[str, str, int], dict[address.Address, int]] = {}
        for allocation in allocations:
            self.add(allocation)

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_owner.values())

    def __iter__(self) -> Iterator[Allocation]:
        for held in self._by_owner.values():
            yield from held.values()

    def add(self, allocation: Allocation) -> None:
        """Record an allocation; an owner holds at most one address per family."""
        held = self._by_owner.setdefault(allocation.owner, {})
        if allocation.family in held:
            raise errors.AllocationConflict(
                f"{allocation.describe()} already holds {held[allocation.family].address}")
        held[allocation.family] = allocation
        self._by_address.setdefault(allocation.address, {})[allocation.owner] = allocation
        if allocation.sharing_key:
            counts = self._by_key.setdefault(self._key(allocation), {})
            counts[allocation.address] = counts.get(allocation.address, 0) + 1

    def remove(self, allocation: Allocation) -> None:
        """Forget an allocation recorded earlier."""
        held = self._by_owner.get(allocation.owner, {})
        if held.get(allocation.family) != allocation:
            raise errors.AllocationConflict(
                f"{allocation.describe()} does not hold {allocation.address}")
        del held[allocation.family]
        if not held:
            del self._by_owner[allocation.owner]
        users = self._by_address[allocation.address]
        del users[allocation.owner]
        if not users:
            del self._by_address[allocation.address]
        if allocation.sharing_key:
            counts = self._by_key[self._key(allocation)]
            counts[allocation.address] -= 1
            if not counts[allocation.address]:
                del counts[allocation.address]
            if not counts:
                del self._by_key[self._key(allocation)]

    @staticmethod
    def _key(allocation: Allocation) -> tuple[str, str, int]:
        return (allocation.member, allocation.sharing_key, allocation.family)

    def holders(self, addr: address.Address) -> tuple[Allocation, ...]:
        """Every allocation of this address (several when it is shared)."""
        return tuple(self._by_address.get(addr, {}).values())

    def owned(self, owner: Owner) -> dict[int, Allocation]:
        """The owner's allocations by family."""
        return dict(self._by_owner.get(owner, {}))

    def bound(self, member: str, sharing_key: str, family: int) -> tuple[address.Address, ...]:
        """The addresses a sharing key holds in a member and family (one, normally)."""
        return tuple(sorted(self._by_key.get((member, sharing_key, family), {})))
