"""Leader election through a Store lease: one replica reconciles, every replica serves.

A candidate grants a lease and creates the leader key attached to it in a txn that
checks the key is absent; the winner keeps the lease alive every ``ttl / 3``
seconds.  A killed leader stops renewing, etcd (or the memory store) deletes the key
when the lease expires, the watchers see the delete and campaign again: a new
leader within the lease TTL.  A leader that cannot renew in time steps down before
its lease can have expired, so two leaders never act at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fedns.store import base

log = logging.getLogger(__name__)

LEADER_KEY = b"/fedns/leader"


class Elector:
    """Campaigns for ``key`` as ``identity``; runs ``lead()`` while leader."""

    def __init__(
        self,
        store: base.Store,
        identity: str,
        lead: Callable[[], Coroutine[Any, Any, None]],
        ttl: int = 10,
        key: bytes = LEADER_KEY,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.identity = identity
        self._lead = lead
        self.ttl = ttl
        self.key = key
        self._on_change = on_change or (lambda leading: None)
        self.leading = False
        self.terms = 0

    async def leader(self) -> str:
        """The current leader's identity, or '' when there is none."""
        kv = await self.store.get(self.key)
        return kv.value.decode() if kv else ""

    async def _campaign(self) -> base.Lease | None:
        lease = await self.store.grant(self.ttl)
        result = await self.store.txn(
            [base.absent(self.key)],
            [base.Put(self.key, self.identity.encode(), lease=lease.id)],
        )
        if result.succeeded:
            return lease
        await self.store.revoke(lease.id)
        return None

    async def _wait_for_vacancy(self) -> None:
        """Return once the leader key is gone (or after one TTL, to re-check)."""
        kv = await self.store.get(self.key)
        if kv is None:
            return
        watch = self.store.watch(self.key, kv.mod_revision + 1)
        try:
            async with asyncio.timeout(self.ttl):
                async for events in watch:
                    if any(e.type is base.EventType.DELETE and e.kv.key == self.key
                           for e in events):
                        return
        except TimeoutError:
            return
        finally:
            await watch.aclose()

    async def _keep(self, lease: base.Lease) -> None:
        """Renew until a renewal fails or is late; then return (leadership lost)."""
        granted_at = time.monotonic()
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                async with asyncio.timeout(self.ttl / 3):
                    await self.store.keepalive(lease.id)
                granted_at = time.monotonic()
            except (base.StoreError, TimeoutError) as err:
                if time.monotonic() - granted_at >= self.ttl * 2 / 3:
                    log.warning("%s: lost the lease (%s); stepping down", self.identity, err)
                    return
                log.info("%s: lease renewal failed (%s); retrying", self.identity, err)

    async def run(self) -> None:
        """Campaign forever; while leader run ``lead()`` and keep the lease."""
        while True:
            try:
                lease = await self._campaign()
            except base.StoreError as err:
                log.info("%s: campaign failed (%s); retrying", self.identity, err)
                await asyncio.sleep(min(1.0, self.ttl / 3))
                continue
            if lease is None:
                try:
                    await self._wait_for_vacancy()
                except base.StoreError:
                    await asyncio.sleep(min(1.0, self.ttl / 3))
                continue
            self.leading = True
            self.terms += 1
            self._on_change(True)
            lead = asyncio.create_task(self._lead(), name=f"lead-{self.identity}")
            keep = asyncio.create_task(self._keep(lease), name=f"keep-{self.identity}")
            try:
                await asyncio.wait({lead, keep}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.leading = False
                self._on_change(False)
                for task in (lead, keep):
                    task.cancel()
                await asyncio.gather(lead, keep, return_exceptions=True)
                with contextlib.suppress(base.StoreError):
                    await self.store.revoke(lease.id)
            if lead.done() and not lead.cancelled() and lead.exception() is not None:
                log.error("%s: leader work failed: %s", self.identity, lead.exception())
