"""Keep a :class:`~fedns.dnsserver.zone.Zone` current from the Store.

List the record prefix at a revision, then watch from the next revision; apply each
batch of events as it arrives (so a write is answerable as soon as the watch
delivers it).  A compacted watch start relists at once; any Store failure keeps the
last zone serving and retries with exponential backoff.

Records on etcd leases answer with the lease's remaining time
(:mod:`fedns.dnsserver.leases`): a lease's time is asked of the Store before the
first record on it is applied, again for every lease of the zone each
``lease_refresh`` seconds, and the zone's lease TTLs are brought up to date each
second.  A query never waits for the Store.

Not for: answering queries, or writing records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from fedns.dnsserver import zone as zone_mod
from fedns.store import base

log = logging.getLogger(__name__)

LEASE_REFRESH = 5.0  # seconds between two asks of a lease's remaining time
LEASE_TICK = 1.0  # lease TTLs are whole seconds
LEASE_ASKS = 32  # asks in flight at once


class ZoneSource:
    """Feeds ``zone`` from ``store``; run :meth:`run` as a task and cancel it to stop."""

    def __init__(self, store: base.Store, zone: zone_mod.Zone, *, min_backoff: float = 0.05,
                 max_backoff: float = 5.0, lease_refresh: float = LEASE_REFRESH) -> None:
        self.store = store
        self.zone = zone
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.lease_refresh = lease_refresh
        self.synced = asyncio.Event()  # set once the first list has been applied
        self.relists = 0
        self.failures = 0

    async def _ask(self, leases: Iterable[int]) -> None:
        """Learn the remaining time of ``leases`` from the Store."""
        table = self.zone.leases
        limit = asyncio.Semaphore(LEASE_ASKS)

        async def ask(lease: int) -> None:
            async with limit:
                try:
                    table.learn(lease, await self.store.time_to_live(lease))
                except base.LeaseNotFound:
                    table.learn(lease, None)

        await asyncio.gather(*(ask(lease) for lease in set(leases)))

    async def _list_and_watch(self) -> None:
        prefix = self.zone.prefix + b"/"
        listing = await self.store.range(prefix)
        leased = {kv.key: kv.lease for kv in listing.kvs if kv.lease}
        await self._ask(leased.values())
        self.zone.replace(((kv.key, kv.value) for kv in listing.kvs), listing.revision, leased)
        self.relists += 1
        self.synced.set()
        table = self.zone.leases
        async for events in self.store.watch(prefix, listing.revision + 1, prev=False):
            new = {e.kv.lease for e in events if e.kv.lease and e.kv.lease not in table}
            if new:  # rare: a lease's first record
                await self._ask(new)
            self.zone.apply(events)

    async def _follow_leases(self) -> None:
        """Each second, bring the zone's lease TTLs up to date; every
        ``lease_refresh`` seconds ask the Store again (a lease kept alive), aside:
        a slow Store does not stop the countdown."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        asking: asyncio.Task[None] | None = None
        try:
            while True:
                await asyncio.sleep(LEASE_TICK)
                leases = self.zone.lease_ids()
                if (leases and loop.time() - asked >= self.lease_refresh
                        and (asking is None or asking.done())):
                    asked = loop.time()
                    asking = asyncio.create_task(self._ask_again(leases))
                self.zone.refresh_leases()
        finally:
            if asking is not None:
                asking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asking

    async def _ask_again(self, leases: set[int]) -> None:
        try:
            await self._ask(leases)
        except base.StoreError as err:  # counting down from the last answer meanwhile
            log.warning("zone source: lease times: %s", err)
            return
        self.zone.leases.keep_only(self.zone.lease_ids())
        self.zone.refresh_leases()  # a renewed lease answers its time at once

    async def run(self) -> None:
        """List and watch forever (and follow the leases of the records)."""
        leases = asyncio.create_task(self._follow_leases(), name="dns-zone-leases")
        try:
            await self._run()
        finally:
            leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leases

    async def _run(self) -> None:
        backoff = self.min_backoff
        while True:
            lists = self.relists
            try:
                await self._list_and_watch()
                log.info("zone watch ended; relisting")
            except asyncio.CancelledError:
                raise
            except base.Compacted:
                log.info("zone watch start was compacted; relisting")
                continue
            except Exception as err:  # keep serving the last zone
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from err  # a cleanup failed while stopping
                self.failures += 1
                log.warning("zone source: %s; retrying in %.2fs", err, backoff)
            if self.relists > lists:  # the list worked: start the backoff over
                backoff = self.min_backoff
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff, backoff * 2)
