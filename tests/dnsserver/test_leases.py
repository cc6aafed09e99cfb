"""TTLs from etcd leases, as CoreDNS 1.12.4 and later answer them (plugin/etcd/etcd.go
``TTL``): a record on a lease answers with the lease's remaining time clamped to
30..86,400 s, or its own ``ttl`` when that is smaller; 300 when neither is set.
Pure rules first, then the zone and the server's cache with a fake clock, then real
servers on both Store backends (memory and a real etcd) and in worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import time

import dns.asyncquery
import dns.message
import pytest

from fedns import store as store_mod
from fedns.dnsserver import leases, server, settings, source, workers, zone
from tests.dnsserver import helpers
from tests.support import aio

KEY = b"/skydns/com/example/leased"
NAME = "leased.example.com."


@pytest.mark.parametrize(("own", "lease", "ttl"), [
    (0, 0, 300),      # neither: CoreDNS's default
    (60, 0, 60),      # no lease (or its time unknown): the record's own
    (0, 100, 100),    # no ttl of its own: the lease's
    (60, 100, 60),    # both: the smaller
    (300, 100, 100),
], ids=["neither", "own-only", "lease-only", "own-smaller", "lease-smaller"])
def test_record_ttl_is_corednss_rule(own, lease, ttl):
    assert leases.record_ttl(own, lease) == ttl


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("remaining", "later", "ttl", "bounds"), [
    (100, 0, 100, (30, 86_400)),
    (100, 30.6, 69, (30, 86_400)),          # counts down between asks
    (10, 0, 30, (30, 86_400)),              # clamped up to the minimum
    (200_000, 0, 86_400, (30, 86_400)),     # and down to the maximum
    (100, 500, 30, (30, 86_400)),           # past its deadline: kept alive, or about to go
    (None, 0, 0, (30, 86_400)),             # the Store has no such lease
    (0, 0, 0, (30, 86_400)),                # under a second left: CoreDNS ignores it
    (100, 0, 60, (10, 60)),                 # min-lease-ttl / max-lease-ttl set
    (5, 0, 10, (10, 60)),
], ids=["fresh", "counting-down", "min", "max", "deadline-passed", "not-found", "zero",
        "custom-max", "custom-min"])
def test_lease_ttl_is_the_remaining_time_clamped(remaining, later, ttl, bounds):
    clock = Clock()
    table = leases.Leases(*bounds, clock=clock)
    table.learn(7, remaining)
    clock.now += later
    assert table.ttl(7) == ttl


def test_an_unknown_lease_has_no_ttl_and_forgotten_ones_go():
    table = leases.Leases()
    assert table.ttl(7) == 0
    table.learn(7, 100)
    table.learn(8, 100)
    table.keep_only({8})
    assert (7 in table, 8 in table) == (False, True)


def _ttls(srv: server.Server, name: str = NAME) -> list[int]:
    reply = srv.respond(dns.message.make_query(name, "A").to_wire(), "127.0.0.1", server.UDP)
    assert reply is not None
    return [rrset.ttl for rrset in dns.message.from_wire(reply).answer]


def test_the_zone_rebuilds_lease_ttls_and_the_cache_follows():
    clock = Clock()
    z = zone.Zone(leases=leases.Leases(clock=clock))
    z.leases.learn(7, 100)
    z.put(KEY, b'{"host":"192.0.2.1"}', lease=7)
    z.put(b"/skydns/com/example/own", b'{"host":"192.0.2.2","ttl":90}', lease=7)
    z.put(b"/skydns/com/example/plain", b'{"host":"192.0.2.3"}')
    srv = server.Server(z, settings.Settings(zones=("example.com",)))
    assert _ttls(srv) == [100]
    assert _ttls(srv, "own.example.com.") == [90]
    clock.now += 40.7
    assert z.refresh_leases() == 2  # both records on the lease, not the plain one
    assert _ttls(srv) == [59], "the cached answer was dropped"
    assert _ttls(srv, "own.example.com.") == [59]
    assert _ttls(srv, "plain.example.com.") == [300]
    assert z.refresh_leases() == 0  # nothing changed since
    z.leases.learn(7, 100)  # kept alive: the Store says so at the next ask
    z.refresh_leases()
    assert _ttls(srv) == [100]
    z.delete(KEY)
    z.delete(b"/skydns/com/example/own")
    assert z.lease_ids() == set()


def test_a_relist_keeps_the_leases():
    z = zone.Zone()
    z.leases.learn(7, 500)
    z.replace([(KEY, b'{"host":"192.0.2.1"}'), (b"/skydns/com/example/p", b'{"host":"192.0.2.2"}')],
              9, {KEY: 7})
    assert (z.get(KEY).ttl, z.get(b"/skydns/com/example/p").ttl) == (500, 300)
    assert z.lease_ids() == {7}
    z.put(KEY, b'{"host":"192.0.2.1"}')  # the key put again without a lease
    assert z.get(KEY).ttl == 300 and z.lease_ids() == set()


async def _answer_ttls(port: int, name: str = NAME) -> dict[str, int]:
    query = dns.message.make_query(name, "A")
    reply = await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=5)
    return {rr.address: rrset.ttl for rrset in reply.answer for rr in rrset}


ROWS = [
    # (id, lease TTL granted (0: none), the record's value, the TTL answered: lo, hi)
    ("lease-only", 120, b'{"host":"192.0.2.1"}', 117, 120),
    ("lease-clamped-up", 5, b'{"host":"192.0.2.1"}', 30, 30),
    ("own-smaller-wins", 120, b'{"host":"192.0.2.1","ttl":45}', 45, 45),
    ("lease-smaller-wins", 120, b'{"host":"192.0.2.1","ttl":600}', 117, 120),
    ("no-lease", 0, b'{"host":"192.0.2.1"}', 300, 300),
]


@pytest.fixture(params=["memory", "etcd"])
async def store(request):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("etcd").url
    st = await store_mod.open_store(url)
    await st.delete(b"/skydns/", prefix=True)
    try:
        yield st
    finally:
        await st.close()


@pytest.mark.parametrize(("granted", "value", "low", "high"), [row[1:] for row in ROWS],
                         ids=[row[0] for row in ROWS])
async def test_answers_carry_the_lease_ttl(store, granted, value, low, high):
    config = settings.Settings(zones=("example.com",))
    async with helpers.serving(store, config) as port:
        lease = (await store.grant(granted)).id if granted else 0
        try:
            await store.put(KEY, value, lease=lease)  # after start: through the watch
            ttls = await aio.until(lambda: _answer_ttls(port), 10, "the leased record")
            assert low <= ttls["192.0.2.1"] <= high
        finally:
            if lease:
                await store.revoke(lease)


async def test_a_kept_alive_lease_answers_its_renewed_time(store):
    """The TTL counts down, and comes back up at the next ask after a keepalive."""
    z = zone.Zone()
    feed = source.ZoneSource(store, z, lease_refresh=0.5)
    task = asyncio.create_task(feed.run())
    srv = server.Server(z, settings.Settings(zones=("example.com",)), ready=feed.synced.is_set)
    lease = (await store.grant(200)).id
    try:
        _, port = await srv.start("127.0.0.1", 0)
        await store.put(KEY, b'{"host":"192.0.2.1"}', lease=lease)
        await aio.until(lambda: _answer_ttls(port), 10, "the leased record")
        start = time.monotonic()
        await aio.until(lambda: _lower(port, 198), 15, "the TTL counting down", interval=0.2)
        assert time.monotonic() - start < 10
        await store.keepalive(lease)
        await aio.until(lambda: _higher(port, 198), 10, "the renewed TTL", interval=0.2)
    finally:
        await store.revoke(lease)
        await srv.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _lower(port: int, than: int) -> int:
    ttl = (await _answer_ttls(port))["192.0.2.1"]
    return ttl if ttl < than else 0


async def _higher(port: int, than: int) -> int:
    ttl = (await _answer_ttls(port))["192.0.2.1"]
    return ttl if ttl > than else 0


async def test_worker_processes_answer_the_lease_ttl(etcd):
    st = await store_mod.open_store(etcd.url)
    try:
        await st.delete(b"/skydns/", prefix=True)
        lease = (await st.grant(3600)).id
        await st.put(KEY + b"/one", b'{"host":"192.0.2.1"}', lease=lease)
        config = settings.Settings(zones=("example.com",), lease_max_ttl=1800)
        async with workers.Workers(etcd.url, config, "127.0.0.1:0", 1) as running:
            port = running.address[1]
            assert (await _answer_ttls(port))["192.0.2.1"] == 1800  # clamped by the settings
            second = KEY + b"/two"
            await st.put(second, b'{"host":"192.0.2.9"}', lease=lease)  # through the watch
            ttls = await aio.until(lambda: _both(port), 10, "the second leased record")
            assert ttls == {"192.0.2.1": 1800, "192.0.2.9": 1800}
        await st.revoke(lease)
    finally:
        await st.close()


async def _both(port: int) -> dict[str, int] | None:
    ttls = await _answer_ttls(port)
    return ttls if len(ttls) == 2 else None


def test_lease_bounds_are_checked():
    with pytest.raises(settings.BadSettings, match="lease_min_ttl"):
        settings.Settings(zones=("example.com",), lease_min_ttl=100, lease_max_ttl=50)
    with pytest.raises(settings.BadSettings, match="lease_max_ttl"):
        settings.Settings(zones=("example.com",), lease_max_ttl=0)
