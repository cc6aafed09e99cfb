"""The zone follows the Store: writes are answerable within 100 ms, a compacted watch
relists, and a failing Store leaves the last zone serving."""

from __future__ import annotations

import asyncio
import contextlib
import time

import dns.asyncquery
import dns.message
import dns.rcode

from fedns.dnsserver import daemon, settings
from fedns.records import apply, desired
from fedns.store import base
from tests.dnsserver import helpers
from tests.support import aio

CONFIG = settings.Settings(zones=("example.com",))
NAME = "hello.default.myfed.svc.example.com."


async def addresses(port: int, name: str = NAME) -> set[str] | None:
    """The A answer now, or None for NXDOMAIN."""
    query = dns.message.make_query(name, "A")
    reply = await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=2)
    if reply.rcode() == dns.rcode.NXDOMAIN:
        return None
    return {rr.address for rrset in reply.answer for rr in rrset if rr.rdtype == 1}


async def elapsed_until(port: int, want: set[str] | None, timeout: float = 2) -> float:
    start = time.monotonic()
    await aio.until(lambda: _matches(port, want), timeout=timeout, interval=0.001,
                    what=f"{want}")
    return time.monotonic() - start


async def _matches(port, want) -> bool:
    return await addresses(port) == want


def records(*healthy: str) -> dict[str, str]:
    states = [desired.MemberState(m, ("192.0.2.10",) if m == "umich" else ("198.51.100.5",),
                                  m in healthy) for m in ("umich", "msu")]
    return desired.records(helpers.REF, "example.com", helpers.TOPOLOGY, states)


async def test_each_write_is_answered_in_turn():
    """Every change of the records is answered once written (polled with a deadline;
    how fast is bench.convergence's measure, not a timed assertion)."""
    async with helpers.memory_store() as store, helpers.serving(store, CONFIG) as port:
        assert await addresses(port) is None
        for healthy, want in [(("umich",), {"192.0.2.10"}),
                              (("umich", "msu"), {"192.0.2.10", "198.51.100.5"}),
                              (("msu",), {"198.51.100.5"}),
                              ((), None)]:
            await apply.apply(store, helpers.REF, records(*healthy))
            await elapsed_until(port, want)
            assert await addresses(port) == want


class FlakyStore:
    """A memory store whose range/watch fail on demand."""

    def __init__(self, inner: base.Store) -> None:
        self.inner = inner
        self.fail_range = 0  # fail the next N range calls
        self.compacted_watches = 0  # the next N watches start compacted
        self.break_watch = asyncio.Event()  # set: the running watch fails

    async def range(self, prefix: bytes, revision: int = 0, limit: int = 0) -> base.Range:
        if self.fail_range:
            self.fail_range -= 1
            raise base.Unavailable("store is down")
        return await self.inner.range(prefix, revision, limit)

    async def watch(self, prefix: bytes, start_revision: int = 0, *, prev: bool = True):
        if self.compacted_watches:
            self.compacted_watches -= 1
            raise base.Compacted(compact_revision=start_revision + 1)
        events = self.inner.watch(prefix, start_revision)
        broken = asyncio.ensure_future(self.break_watch.wait())
        nxt: asyncio.Future | None = None
        try:
            while True:
                nxt = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({nxt, broken}, return_when=asyncio.FIRST_COMPLETED)
                if broken in done:
                    self.break_watch.clear()
                    raise base.Unavailable("watch stream broke")
                yield nxt.result()
        finally:
            broken.cancel()
            if nxt is not None and not nxt.done():
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await nxt
            await events.aclose()


async def test_compacted_watch_relists():
    async with helpers.memory_store() as inner:
        store = FlakyStore(inner)
        store.compacted_watches = 2
        await apply.apply(inner, helpers.REF, records("umich"))
        async with helpers.serving(store, CONFIG) as port:
            assert await addresses(port) == {"192.0.2.10"}
            await apply.apply(inner, helpers.REF, records("msu"))
            await elapsed_until(port, {"198.51.100.5"})
            assert store.compacted_watches == 0


async def test_store_outage_keeps_last_zone_then_catches_up():
    async with helpers.memory_store() as inner:
        store = FlakyStore(inner)
        await apply.apply(inner, helpers.REF, records("umich"))
        async with helpers.serving(store, CONFIG) as port:
            assert await addresses(port) == {"192.0.2.10"}
            store.fail_range = 3  # the relists after the break fail too
            store.break_watch.set()
            await aio.until(lambda: store.fail_range == 0, timeout=5, what="retries")
            assert await addresses(port) == {"192.0.2.10"}  # still serving meanwhile
            await apply.apply(inner, helpers.REF, records("umich", "msu"))
            await elapsed_until(port, {"192.0.2.10", "198.51.100.5"})


async def test_store_down_at_start_fills_when_it_comes_back():
    async with helpers.memory_store() as inner:
        store = FlakyStore(inner)
        store.fail_range = 2
        await apply.apply(inner, helpers.REF, records("umich"))
        async with helpers.serving(store, CONFIG) as port:
            await elapsed_until(port, {"192.0.2.10"})


async def test_servfail_until_first_load():
    async with helpers.memory_store() as inner:
        store = FlakyStore(inner)
        store.fail_range = 10_000
        await apply.apply(inner, helpers.REF, records("umich"))
        async with daemon.running(store, CONFIG, "127.0.0.1:0", sync_timeout=0.05) as handle:
            port = handle.address[1]
            query = dns.message.make_query(NAME, "A")
            reply = await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=2)
            assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer
            store.fail_range = 0
            await elapsed_until(port, {"192.0.2.10"}, timeout=8)  # after the backoff
