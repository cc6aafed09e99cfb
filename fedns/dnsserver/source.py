"""Keep a :class:`~fedns.dnsserver.zone.Zone` current from the Store.

List the record prefix at a revision, then watch from the next revision; apply each
batch of events as it arrives (so a write is answerable as soon as the watch
delivers it).  A compacted watch start relists at once; any Store failure keeps the
last zone serving and retries with exponential backoff.

Not for: answering queries, or writing records.
"""

from __future__ import annotations

import asyncio
import logging

from fedns.dnsserver import zone as zone_mod
from fedns.store import base

log = logging.getLogger(__name__)


class ZoneSource:
    """Feeds ``zone`` from ``store``; run :meth:`run` as a task and cancel it to stop."""

    def __init__(self, store: base.Store, zone: zone_mod.Zone, *, min_backoff: float = 0.05,
                 max_backoff: float = 5.0) -> None:
        self.store = store
        self.zone = zone
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.synced = asyncio.Event()  # set once the first list has been applied
        self.relists = 0
        self.failures = 0

    async def _list_and_watch(self) -> None:
        prefix = self.zone.prefix + b"/"
        listing = await self.store.range(prefix)
        self.zone.replace(((kv.key, kv.value) for kv in listing.kvs), listing.revision)
        self.relists += 1
        self.synced.set()
        async for events in self.store.watch(prefix, listing.revision + 1, prev=False):
            self.zone.apply(events)

    async def run(self) -> None:
        """List and watch forever."""
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
