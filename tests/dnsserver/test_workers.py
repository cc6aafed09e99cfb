"""DNS server processes (dns.workers): real children serving a zone from a real etcd."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fedns import store as store_mod
from fedns.dnsserver import settings, workers
from tests.dnsserver import helpers
from tests.support import aio, procs


def test_settings_travel_as_json_unchanged():
    config = settings.Settings(
        zones=("example.com",), ns_names=("ns1.example.com",), ns_addresses=("192.0.2.53",),
        sites=(settings.Site.make("umich", "mw", "a", ["10.1.0.0/16", "2001:db8:1::/48"]),),
        negative_ttl=60)
    again = settings.from_json(json.loads(json.dumps(settings.to_json(config))))
    assert again == config
    assert again.site_of_network(config.sites[0].subnets[0]) == (again.sites[0], 16)


def test_bad_settings_json_is_one_clear_error():
    with pytest.raises(settings.BadSettings, match="sites"):
        settings.from_json({"zones": ["example.com"], "sites": [{"name": "a"}]})


def test_merge_adds_counters_and_takes_the_largest_gauge():
    merged = workers.merge([
        {'fedns_dns_requests_total{transport="udp"}': 3, "fedns_dns_zone_revision": 7,
         "fedns_dns_cache_entries": 2},
        {'fedns_dns_requests_total{transport="udp"}': 4, "fedns_dns_zone_revision": 9,
         'fedns_dns_responses_total{rcode="NOERROR"}': 1},
    ])
    assert merged == {'fedns_dns_requests_total{transport="udp"}': 7,
                      "fedns_dns_zone_revision": 9, "fedns_dns_cache_entries": 2,
                      'fedns_dns_responses_total{rcode="NOERROR"}': 1}


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _config() -> settings.Settings:
    return settings.Settings(zones=(helpers.DOMAIN,))


async def _answers(port: int, tcp: bool = False) -> set[str]:
    reply = await helpers.ask_dnspython(port, helpers.Query(helpers.GLOBAL, "A", tcp=tcp))
    return reply.answer


async def test_children_serve_the_zone_from_etcd_and_report_metrics(etcd):
    store = await store_mod.open_store(etcd.url)
    try:
        await store.delete(b"/skydns/", prefix=True)
        async with workers.Workers(etcd.url, _config(), "127.0.0.1:0", 2) as running:
            assert running.synced(), "start() waits for every child's zone"
            port = running.address[1]
            assert await _answers(port) == set(), "nothing written yet"
            await helpers.write_federation(store)  # after start: the children watch
            udp = await aio.until(lambda: _answers(port), 10, "the written records")
            assert any("192.0.2.10" in rr for rr in udp)
            assert await _answers(port, tcp=True) == udp
            pids = {c.proc.pid for c in running.children if c.proc}
            assert len(pids) == 2 and os.getpid() not in pids

            def counted() -> float:
                m = running.metrics()
                return sum(v for k, v in m.items() if k.startswith("fedns_dns_requests_total"))

            await aio.until(lambda: counted() >= 3, 10, "the queries in the metrics")
            assert running.metrics()["fedns_dns_zone_records"] > 0
    finally:
        await store.close()
    for pid in pids:
        assert not _alive(pid), "stop() ends every child"


async def test_a_dead_child_is_started_again_and_its_counts_are_kept(etcd):
    store = await store_mod.open_store(etcd.url)
    try:
        await helpers.write_federation(store)
        async with workers.Workers(etcd.url, _config(), "127.0.0.1:0", 1) as running:
            port = running.address[1]
            assert await _answers(port)
            await aio.until(lambda: running.metrics().get(
                'fedns_dns_requests_total{transport="udp"}'), 10, "a report")
            child = running.children[0]
            first = child.proc
            assert first is not None
            os.kill(first.pid, signal.SIGKILL)
            await aio.until(lambda: not running.synced(), 10, "the death noticed")
            await aio.until(lambda: running.synced() and child.proc is not first,
                            15, "a new child with its zone (after 1 s)")
            assert running.restarts == 1
            assert await _answers(port), "the new child answers on the same port"
            assert running.metrics()['fedns_dns_requests_total{transport="udp"}'] >= 1, \
                "the dead child's queries still count"
    finally:
        await store.close()


async def test_a_child_that_cannot_be_started_is_tried_again(etcd, monkeypatch, caplog):
    monkeypatch.setattr(workers, "RESTART_DELAY", 0.05)
    store = await store_mod.open_store(etcd.url)
    try:
        await helpers.write_federation(store)
        async with workers.Workers(etcd.url, _config(), "127.0.0.1:0", 1) as running:
            real = asyncio.create_subprocess_exec
            failures = []

            async def no_process(*args, **kwargs):
                if not failures:
                    failures.append(args)
                    raise OSError("Resource temporarily unavailable")
                return await real(*args, **kwargs)

            monkeypatch.setattr(workers.asyncio, "create_subprocess_exec", no_process)
            first = running.children[0].proc
            assert first is not None
            os.kill(first.pid, signal.SIGKILL)
            await aio.until(lambda: failures, 10, "a failed start")
            await aio.until(lambda: running.synced() and running.children[0].proc is not None,
                            10, "a started child with its zone")
            assert running.restarts == 2
            assert await _answers(running.address[1])
            assert "Resource temporarily unavailable" in caplog.text
    finally:
        await store.close()


_PARENT = textwrap.dedent("""
    import asyncio, sys
    from fedns.dnsserver import settings, workers

    async def main():
        running = workers.Workers(sys.argv[1], settings.Settings(zones=("example.com",)),
                                  "127.0.0.1:0", 2)
        await running.start()
        print(" ".join(str(c.proc.pid) for c in running.children), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")


def test_ctrl_c_stops_parent_and_children_without_a_traceback(etcd):
    # a terminal sends SIGINT to the whole process group; the parent stops its children
    script = _PARENT.replace("asyncio.run(main())", textwrap.dedent("""
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass
    """))
    parent = subprocess.Popen([sys.executable, "-c", script, etcd.url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        os.killpg(parent.pid, signal.SIGINT)
        _, err = parent.communicate(timeout=30)
    finally:
        procs.stop_process(parent, signal.SIGKILL)
    procs.wait_for(lambda: not any(_alive(p) for p in pids), 10, "the children to exit")
    assert "Traceback" not in err, err


def test_children_end_with_their_parent_even_when_it_is_killed(etcd):
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, etcd.url],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        procs.stop_process(parent, signal.SIGKILL)
    procs.wait_for(lambda: not any(_alive(p) for p in pids), 10,
                   "the children to exit")


async def test_a_port_in_use_fails_start_and_leaves_nothing_running(etcd):
    async with workers.Workers(etcd.url, _config(), "127.0.0.1:0", 1) as first:
        taken = f"127.0.0.1:{first.address[1]}"
        second = workers.Workers(etcd.url, _config(), taken, 1)
        with pytest.raises(OSError):
            await second.start()
        assert all(c.proc is None for c in second.children)


def test_count_must_be_positive():
    with pytest.raises(ValueError, match="count"):
        workers.Workers("etcd://127.0.0.1:1", _config(), "127.0.0.1:0", 0)


async def test_an_unreachable_store_is_waited_for_not_a_crash_loop():
    # start() gives up waiting after its timeout; the child keeps trying the Store
    # and stops at once when told
    dead = f"etcd://127.0.0.1:{procs.free_port()}"
    running = workers.Workers(dead, _config(), "127.0.0.1:0", 1, sync_timeout=0.5)
    await running.start()
    try:
        assert not running.synced()
        child = running.children[0].proc
        assert child is not None and child.returncode is None and running.restarts == 0
    finally:
        await asyncio.wait_for(running.stop(), workers.STOP_TIMEOUT)
    assert child.returncode == 0
