"""kapi server CPU per request: Service create, EndpointSlice create, status PATCH.

``python -m bench.kapi`` (from the repository) starts ``fedns sim`` with one member as a
process of its own, opens a cluster-wide watch on services and one on endpointslices
(as fedns's informers do, with bookmarks), then runs each phase with 48 requests in
flight: ``--requests`` Service creates (LoadBalancer, as bench.convergence makes
them), as many EndpointSlice creates, and as many merge PATCHes of
``services/<name>/status`` (what the controller writes).  A phase ends when the
watch has delivered every event it caused, so the server's watch work is counted.
The sim process's CPU time (user + system, from /proc) around a phase divided by its
requests is the figure; the peer, measured in the same run, is a ``GET /healthz``
(aiohttp's cost of one request that does nothing).  Each phase runs ``--rounds``
times on new names and the median is shown, since a shared machine is noisy.  Linux
only (/proc); asserts nothing about time.

Then the workload cases of :mod:`bench.kapi.workloads`: a Deployment of
``--replicas`` Pods from create to Available (CPU per Pod against a Service create),
and a member holding ``--pods`` Running Pods (memory per Pod against a plain
Service); ``--replicas 0`` / ``--pods 0`` leave a case out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import yaml

from bench.kapi import workloads

IN_FLIGHT = 48
TICKS = os.sysconf("SC_CLK_TCK")
SERVICES = "/api/v1/namespaces/default/services"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
MERGE_PATCH = "application/merge-patch+json"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}


def endpoint_slice(name: str) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-x", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]}


class Watch:
    """A cluster-wide watch that counts ADDED and MODIFIED events."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.seen = 0
        self.wanted = 0
        self.reached = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self.session.get(self.url) as response:
            revision = (await response.json())["metadata"]["resourceVersion"]
        self.task = asyncio.create_task(self._follow(revision))

    async def _follow(self, revision: str) -> None:
        params = {"watch": "1", "resourceVersion": revision, "allowWatchBookmarks": "true"}
        async with self.session.get(self.url, params=params,
                                    timeout=aiohttp.ClientTimeout(total=None)) as response:
            async for line in response.content:
                if json.loads(line)["type"] in ("ADDED", "MODIFIED"):
                    self.seen += 1
                    if self.seen >= self.wanted:
                        self.reached.set()

    def expect(self, more: int) -> None:
        self.wanted = self.seen + more
        self.reached.clear()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def start_sim(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    """``fedns sim`` with one member; returns the process and the member's URL."""
    kubeconfig = os.path.join(workdir, "kubeconfig")
    sim = subprocess.Popen([sys.executable, "-m", "fedns.cli", "sim", "--members", "m0",
                            "--kubeconfig", kubeconfig],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(kubeconfig):
        if sim.poll() is not None or time.monotonic() > deadline:
            sim.kill()
            raise SystemExit("fedns sim did not write its kubeconfig")
        time.sleep(0.05)
    with open(kubeconfig) as f:
        return sim, yaml.safe_load(f)["clusters"][0]["cluster"]["server"]


async def run(url: str, pid: int, requests: int, rounds: int, replicas: int = 0,
              pods: int = 0, workdir: str = "") -> None:
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        figures = await measure(session, url, pid, requests, rounds)
        create = statistics.median(figures["Service create"])
        if replicas:
            per_pod, wall = await workloads.deployment_case(session, url, pid, replicas,
                                                            cpu_seconds)
            ratio = f"{per_pod / create:5.1f}x Service create" if create else \
                "Service create below the clock tick"
            print(f"{'Deployment available':22s} {per_pod:6.3f} ms per Pod ({replicas} "
                  f"replicas, {wall:.1f} s wall)  {ratio}")
    if pods:
        per_service, per_pod = await workloads.memory_case(workdir, pods)
        ratio = f"{per_pod / per_service:5.1f}x a Service" if per_service > 0 else \
            "Services below the RSS resolution"
        print(f"{'Memory per Running Pod':22s} {per_pod / 1024:6.1f} KiB ({pods} Pods; "
              f"{per_service / 1024:.1f} KiB per Service)  {ratio}")


async def measure(session: aiohttp.ClientSession, url: str, pid: int, requests: int,
                  rounds: int) -> dict[str, list[float]]:
    services = Watch(session, url + "/api/v1/services")
    slices = Watch(session, url + "/apis/discovery.k8s.io/v1/endpointslices")
    await services.start()
    await slices.start()
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def send(method: str, path: str, body: Any = None,
                   content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if body is not None else None
        async with limit, session.request(method, url + path, data=data,
                                          headers={"Content-Type": content_type}) as r:
            await r.read()
            if r.status >= 300:
                raise RuntimeError(f"{method} {path}: HTTP {r.status}")

    async def phase(watch: Watch | None, make: Callable[[int], Awaitable[None]]) -> float:
        if watch is not None:
            watch.expect(requests)
        before = cpu_seconds(pid)
        await asyncio.gather(*(make(i) for i in range(requests)))
        if watch is not None:
            await asyncio.wait_for(watch.reached.wait(), 120)
        return (cpu_seconds(pid) - before) / requests * 1000

    await phase(services, lambda i: send("POST", SERVICES, service(f"warm{i}")))
    figures: dict[str, list[float]] = {}
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "10.100.0.1"}]}}}
    for r in range(rounds):
        def name(i: int, r: int = r) -> str:
            return f"r{r}-s{i:05d}"

        runs: list[tuple[str, Watch | None, Callable[[int], Awaitable[None]]]] = [
            ("GET /healthz (peer)", None, lambda i: send("GET", "/healthz")),
            ("Service create", services,
             lambda i: send("POST", SERVICES, service(name(i)))),
            ("EndpointSlice create", slices,
             lambda i: send("POST", SLICES, endpoint_slice(name(i)))),
            ("Service status PATCH", services,
             lambda i: send("PATCH", f"{SERVICES}/{name(i)}/status", status, MERGE_PATCH)),
        ]
        for what, watch, make in runs:
            figures.setdefault(what, []).append(await phase(watch, make))
    await services.stop()
    await slices.stop()
    peer = statistics.median(figures["GET /healthz (peer)"])
    print(f"kapi server CPU per request, {requests} requests x {rounds} rounds, "
          f"{IN_FLIGHT} in flight, watches on services and endpointslices open")
    for what, values in figures.items():
        median = statistics.median(values)
        ratio = f"{median / peer:5.1f}x peer" if peer else "peer below the clock tick"
        print(f"{what:22s} {median:6.3f} ms (range {min(values):.3f}-{max(values):.3f})"
              f"  {ratio}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.kapi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=100,
                        help="Pods of the Deployment case (0: leave it out)")
    parser.add_argument("--pods", type=int, default=10000,
                        help="Pods of the memory case (0: leave it out)")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="fedns-bench-kapi-")
    sim, url = start_sim(workdir)
    try:
        asyncio.run(run(url, sim.pid, args.requests, args.rounds, args.replicas, args.pods,
                        workdir))
    finally:
        sim.terminate()
        sim.wait(10)


if __name__ == "__main__":
    main()
