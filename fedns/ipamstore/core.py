"""What pool edits (``pooledit``) and the repair pass (``repair``) use of the IPAM.

A Protocol, so those modules depend on this contract instead of importing
``manager`` (which imports them): no import cycle, and no reaching into private
attributes.  ``manager.IPAM`` implements it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from fedns.ipamstore import state as state_mod
from fedns.ipamstore.txn import Plan
from fedns.store import base
from ipam import allocator, ledger, pool, request


class Core(Protocol):
    store: base.Store
    state: state_mod.State
    attempts: int  # decisions or txns tried before giving up with Contended
    metrics: Any
    # repair: owner slot (member, owner id) -> when it was first seen gone
    missing: dict[tuple[str, str], float]

    def check_started(self) -> None: ...

    async def commit(self, plan: Plan) -> int: ...

    async def refresh(self, keys_to_read: Iterable[bytes]) -> None: ...

    def pools(self) -> list[pool.Pool]: ...

    def allocations(self, pool: str | None = None) -> list[ledger.Allocation]: ...

    async def ensure(self, req: request.Request) -> allocator.Decision | allocator.Refusal: ...

    async def release_owner(self, member: str, oid: str) -> list[ledger.Allocation]: ...

    def hold_service(self, service: tuple[str, str, str]) -> AbstractAsyncContextManager[None]:
        """Serialise work on one (member, namespace, service)."""
        ...
