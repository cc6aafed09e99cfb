"""Three allocator processes against one real etcd: no duplicate, nothing lost, one IP
per owner — also when one of them is killed with SIGKILL mid-run and restarted.

Each Service is asked for by two of the three workers at about the same time (see
``worker.py``), so the owner check and the idempotent retry are raced as hard as the
address check.  The verdict is read from the Store itself, and every address a worker
reported (the killed one's included) must still be the Service's address.
"""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry

from fedns import store
from fedns.ipamstore import keys, manager
from ipam import address, pool
from tests.ipamstore import worker
from tests.support import procs

TOTAL, WORKERS = 3000, 3
POOL_CIDR = "10.64.0.0/20"  # 4096 addresses for 3000 Services
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.etcd


async def _fresh_pool(url: str) -> None:
    st = await store.open_store(url)
    try:
        await st.delete(keys.PREFIX, prefix=True)
        ipam = manager.IPAM(st, {}, registry=CollectorRegistry())
        await ipam.start()
        await ipam.apply_pools([pool.Pool(worker.POOL, worker.SITE, (POOL_CIDR,))])
        await ipam.stop()
    finally:
        await st.close()


def _start(url: str, index: int, out: pathlib.Path) -> subprocess.Popen:
    with open(out, "a") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.ipamstore.worker", "--store", url,
             "--index", str(index), "--workers", str(WORKERS), "--total", str(TOTAL)],
            cwd=ROOT, stdout=sink, stderr=subprocess.PIPE, text=True)


def _lines(path: pathlib.Path) -> list[str]:
    """Complete lines only: a killed worker may leave half of one."""
    text = path.read_text() if path.exists() else ""
    return text.splitlines()[:text.count("\n")]


def _reported(path: pathlib.Path) -> dict[int, str]:
    found = {}
    for line in _lines(path):
        if line != "done":
            i, addr = line.split()
            assert found.setdefault(int(i), addr) == addr, f"svc-{i} reported twice, differently"
    return found


async def _store_verdict(url: str) -> dict[int, str]:
    """Service index -> its address, checking every invariant of the final Store."""
    st = await store.open_store(url)
    try:
        kvs = (await st.range(keys.PREFIX)).kvs
    finally:
        await st.close()
    cidr = address.parse_block(POOL_CIDR)
    by_owner: dict[str, str] = {}
    owner_keys: dict[str, str] = {}
    for kv in kvs:
        parsed = keys.parse_key(kv.key)
        if parsed.kind == "addr":
            holders = json.loads(kv.value)["holders"]
            assert len(holders) == 1, f"{parsed.address} held {len(holders)} times: {holders}"
            uid = holders[0]["uid"]
            assert uid not in by_owner, f"{uid} holds {by_owner[uid]} and {parsed.address}"
            assert parsed.pool == worker.POOL
            assert cidr[1] <= int(parsed.address) <= cidr[2]
            by_owner[uid] = str(parsed.address)
        elif parsed.kind == "owner":
            assert parsed.owner not in owner_keys
            owner_keys[parsed.owner] = json.loads(kv.value)["address"]
        else:
            assert parsed.kind in ("pool", "poolset"), kv.key
    assert owner_keys == by_owner, "every owner key names the address that lists it"
    assert set(by_owner) == {f"uid-{i}" for i in range(TOTAL)}, "none lost, none extra"
    assert len(set(by_owner.values())) == TOTAL, "no address twice"
    return {int(uid.removeprefix("uid-")): addr for uid, addr in by_owner.items()}


def _finish(workers: list[subprocess.Popen], timeout: float) -> None:
    for proc in workers:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            procs.stop_process(proc, signal.SIGKILL)
            raise
        assert proc.returncode == 0, err


@pytest.mark.parametrize("kill", [False, True], ids=["all-run", "one-killed"])
async def test_three_processes_allocate_3000_addresses(etcd, tmp_path, kill):
    await _fresh_pool(etcd.url)
    outs = [tmp_path / f"worker{k}.out" for k in range(WORKERS)]
    workers = [_start(etcd.url, k, outs[k]) for k in range(WORKERS)]
    try:
        if kill:
            victim = workers[0]
            procs.wait_for(lambda: len(_lines(outs[0])) >= 400 or victim.poll() is not None,
                           30, "worker 0 a fifth of the way")
            assert victim.poll() is None, "worker 0 finished before it could be killed"
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            assert 400 <= len(_reported(outs[0])) < 2 * TOTAL // WORKERS
            again = tmp_path / "worker0-restarted.out"
            workers[0] = _start(etcd.url, 0, again)  # the same Services again
            outs.append(again)
        _finish(workers, timeout=45)
    finally:
        for proc in workers:
            procs.stop_process(proc, signal.SIGKILL)
    final = await _store_verdict(etcd.url)
    for k, out in enumerate(outs):
        reported = _reported(out)
        if out.read_text().endswith("done\n"):  # all but the killed one
            assert set(reported) == set(worker.owned(k % WORKERS, WORKERS, TOTAL))
        changed = {i: (a, final[i]) for i, a in reported.items() if final[i] != a}
        assert not changed, f"worker {k}: addresses changed after being reported: {changed}"
