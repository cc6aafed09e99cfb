"""Allocations per second through the Store: Store-backed IPAM against a real etcd.

Starts its own etcd (free loopback ports, temporary data dir; stopped by its pid at
the end) and measures, in the same run and on fresh pools of the same size:

- ``sequential``: one ``IPAM.ensure`` in flight at a time;
- ``concurrent``: ``--in-flight`` (default 16) ensures in flight in one process;
- ``raw txn``: the peer — bare create-if-absent transactions on the same etcd, one in
  flight, i.e. what one Store round trip costs without any IPAM work.

It prints allocations per second and the ratios concurrent/sequential (the target
is >= 2) and sequential/raw txn (how close IPAM gets to the Store's own round trip).
No assertion on time.  Run ``python -m bench.ipam.bench_store`` from the repository
(``--allocations N``, ``--in-flight K``, ``--store etcd://...`` to use a running etcd).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from prometheus_client import CollectorRegistry

from fedns import store
from fedns.ipamstore import manager
from fedns.store import base
from ipam import pool, request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Etcd:
    """One throwaway etcd on loopback."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="fedns-bench-etcd-")
        self.client, self.peer = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        client, peer = f"http://127.0.0.1:{self.client}", f"http://127.0.0.1:{self.peer}"
        self.proc = subprocess.Popen(
            [shutil.which("etcd") or "/usr/bin/etcd", "--name", "bench",
             "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"bench={peer}", "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(client + "/health", timeout=1) as resp:
                    if json.load(resp).get("health") == "true":
                        return f"etcd://127.0.0.1:{self.client}"
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("etcd did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


async def run_ipam(url: str, name: str, count: int, in_flight: int) -> float:
    """Allocations per second for ``count`` new Services, ``in_flight`` at a time."""
    st = await store.open_store(url)
    ipam = manager.IPAM(st, {}, registry=CollectorRegistry())
    await ipam.start()
    try:
        # one site per run (a member's site defaults to its name): pools may overlap
        await ipam.apply_pools([pool.Pool(name, name, ("10.0.0.0/16",))])
        requests = [request.Request(name, "default", f"{name}-{i}", uid=f"{name}-{i}")
                    for i in range(count)]
        queue = iter(requests)

        async def worker() -> None:
            for req in queue:
                decision = await ipam.ensure(req)
                assert not isinstance(decision, manager.allocator.Refusal), decision

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - began
        assert len(ipam.allocations(name)) == count
        return count / elapsed
    finally:
        await ipam.stop()
        await st.close()


async def run_raw(url: str, name: str, count: int) -> float:
    """The peer: create-if-absent txns of similar size, one in flight."""
    st = await store.open_store(url)
    try:
        value = b"x" * 160
        began = time.perf_counter()
        for i in range(count):
            key = f"/bench/raw/{name}/{i}".encode()
            owner = f"/bench/raw-owner/{name}/{i}".encode()
            result = await st.txn([base.absent(key), base.absent(owner)],
                                  [base.Put(key, value), base.Put(owner, value)])
            assert result.succeeded
        return count / (time.perf_counter() - began)
    finally:
        await st.close()


async def bench(url: str, count: int, in_flight: int, rounds: int) -> None:
    await run_ipam(url, "warmup", min(count, 200), in_flight)  # grpc channel, code paths
    results: dict[str, list[float]] = {"raw txn": [], "sequential": [], "concurrent": []}
    for r in range(rounds):
        results["raw txn"].append(await run_raw(url, f"r{r}", count))
        results["sequential"].append(await run_ipam(url, f"seq{r}", count, 1))
        results["concurrent"].append(await run_ipam(url, f"conc{r}", count, in_flight))
    best = {k: max(v) for k, v in results.items()}
    print(f"Store-backed IPAM on {url}: {count} allocations per run, best of {rounds}")
    print(f"  {'raw txn (peer, 1 in flight)':32} {best['raw txn']:8.0f} /s")
    print(f"  {'sequential (1 in flight)':32} {best['sequential']:8.0f} allocations/s")
    print(f"  {f'concurrent ({in_flight} in flight)':32} {best['concurrent']:8.0f} allocations/s")
    print(f"  concurrent / sequential = {best['concurrent'] / best['sequential']:.2f}"
          " (target >= 2)")
    print(f"  sequential / raw txn    = {best['sequential'] / best['raw txn']:.2f}"
          " (1.0: IPAM costs nothing beyond the Store round trip)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", help="an etcd:// URL to use instead of starting one")
    args = parser.parse_args()
    etcd = None if args.store else Etcd()
    try:
        url = args.store or etcd.start()  # type: ignore[union-attr]
        asyncio.run(bench(url, args.allocations, args.in_flight, args.rounds))
    finally:
        if etcd is not None:
            etcd.stop()


if __name__ == "__main__":
    main()
