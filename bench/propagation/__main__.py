"""Propagation: N members x M Deployments (each with a LoadBalancer Service) applied once
at the federation endpoint, against the same objects created in every member directly.

Starts a real etcd, ``fedns sim`` with N members and ``fedns run`` (processes of their
own, as in :mod:`bench.convergence`, whose helpers it reuses).  Each of the M
applications is applied twice, interleaved in one shuffled stream so that both see the
same load: through the endpoint (a Deployment of N replicas and its Service, ``e0000``)
and, the floor, straight into every member (a Deployment of 1 replica and its Service
in each, ``f0000``, the members written concurrently as a multi-cluster tool would).
For each it prints p50/p99/max of the time from the apply's first request to

- the copy existing in every member (seen on a watch of each member's Deployments),
- Available: the endpoint's summed status (condition Available, every replica ready)
  for the endpoint, every member's Deployment for the floor,
- every member's copy answering in DNS (``<member>.<service>.default.F.svc.D``),

and the endpoint's p99 as a multiple of the floor's, with the issue's targets (p99
under 1 s to every member, under 2 s to Available).

    python -m bench.propagation [--members 3] [--deployments 1000] [--rate R]
                                [--profile FILE]

``--rate R`` starts R applications a second (each applied at the endpoint and, the
floor, in the members) instead of all at once: the latency of the path itself rather
than of a queue in front of it.  ``--profile FILE`` runs ``fedns run`` under cProfile
and prints the functions that took the most time; the stats stay in FILE for pstats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import aiohttp
import yaml

from bench.convergence import __main__ as convergence
from bench.convergence import http
from fedns.sim import cluster
from tests.support import procs

FEDERATION, DOMAIN = convergence.FEDERATION, convergence.DOMAIN
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
SERVICES = "/api/v1/namespaces/default/services"
TARGETS = {"copy in every member": 1.0, "Available": 2.0}


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "LoadBalancer", "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def available(obj: dict[str, Any]) -> bool:
    """Every replica ready and the Available condition True."""
    status = obj.get("status") or {}
    return status.get("readyReplicas") == (obj.get("spec") or {}).get("replicas") and any(
        c.get("type") == "Available" and c.get("status") == "True"
        for c in status.get("conditions") or [])


async def watch(session: aiohttp.ClientSession, url: str,
                on_event: Callable[[dict[str, Any], float], None]) -> None:
    """Follow a Deployment watch at ``url``, calling ``on_event(obj, arrival)``."""
    async with session.get(url + DEPLOYMENTS, params={"watch": "1"},
                           timeout=aiohttp.ClientTimeout(total=None)) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.strip():
                event = json.loads(line)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    on_event(event["object"], time.monotonic())


class Seen:
    """What the watches saw: first sight per (where, name) and first Available."""

    def __init__(self) -> None:
        self.copied: dict[tuple[str, str], float] = {}
        self.ready: dict[tuple[str, str], float] = {}

    def observer(self, where: str) -> Callable[[dict[str, Any], float], None]:
        def seen(obj: dict[str, Any], at: float) -> None:
            key = (where, obj["metadata"]["name"])
            self.copied.setdefault(key, at)
            if available(obj):
                self.ready.setdefault(key, at)
        return seen


def member_name(member: str, svc: str) -> str:
    return f"{member}.{svc}.default.{FEDERATION}.svc.{DOMAIN}"


async def main(members: int, count: int, profile: str = "", rate: float = 0.0) -> int:
    workdir = tempfile.mkdtemp(prefix="fedns-bench-")
    etcd = procs.EtcdCluster(1).start()
    spec_text = ",".join(f"m{i}:r{i % 2}:z{i}" for i in range(members))
    specs = cluster.parse_members(spec_text)
    kubeconfig = os.path.join(workdir, "kubeconfig")
    # room for both Pods of every application in each member (110 Pods a Node)
    nodes = max(2, math.ceil(2 * count / 100) + 1)
    sim_log = open(os.path.join(workdir, "sim.log"), "w")  # noqa: SIM115
    sim_proc = subprocess.Popen([sys.executable, "-m", "fedns.cli", "sim", "--members", spec_text,
                                 "--kubeconfig", kubeconfig, "--nodes", str(nodes)],
                                stdout=sim_log, stderr=subprocess.STDOUT)
    replica = None
    client = http.Client(limit=64)
    session = aiohttp.ClientSession()
    tasks: list[asyncio.Task[Any]] = []
    try:
        await asyncio.to_thread(procs.wait_for, lambda: os.path.exists(kubeconfig), 60,
                                "sim kubeconfig")
        with open(kubeconfig) as f:
            urls = {c["name"]: c["cluster"]["server"] for c in yaml.safe_load(f)["clusters"]}
        dns_port, api_port = procs.free_port(), procs.free_port()
        endpoint = f"http://127.0.0.1:{api_port}"
        config_path = os.path.join(workdir, "config.yaml")
        with open(config_path, "w") as f:
            yaml.safe_dump({
                "federation": FEDERATION, "domain": DOMAIN, "store": etcd.url,
                "dns": {"listen": f"127.0.0.1:{dns_port}"},
                "api": {"listen": f"127.0.0.1:{api_port}"},
                "members": [{"name": s.name, "kubeconfig": kubeconfig, "context": s.name}
                            for s in specs],
                "pools": [{"name": f"{s.name}-pool", "site": s.name,
                           "addresses": [f"10.{100 + i}.0.0/16"]} for i, s in enumerate(specs)],
            }, f)
        log = open(os.path.join(workdir, "fedns.log"), "w")  # noqa: SIM115
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        replica = subprocess.Popen([sys.executable, *profiler, "-m", "fedns.cli", "run",
                                    "--config", config_path], stdout=log,
                                   stderr=subprocess.STDOUT)

        def ready() -> bool:
            with urllib.request.urlopen(f"{endpoint}/readyz", timeout=1) as r:
                return r.status == 200
        await asyncio.to_thread(procs.wait_for, ready, 60, "fedns /readyz")
        pace = f", {rate:g} a second" if rate > 0 else ", all at once"
        print(f"{members} members x {count} Deployments with a LoadBalancer Service, applied "
              f"at the endpoint and, the floor, in every member directly{pace} ({nodes} "
              f"Nodes a member)", flush=True)

        seen = Seen()
        for s in specs:
            tasks.append(asyncio.create_task(watch(session, urls[s.name], seen.observer(s.name))))
        tasks.append(asyncio.create_task(watch(session, endpoint, seen.observer(""))))
        changed: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        tasks.append(asyncio.create_task(convergence.follow_records(etcd.url, changed)))
        started: dict[str, float] = {}  # application -> its first request
        dns_started: dict[str, float] = {}  # member name -> its application's first request
        timeout = 120.0 + count * 0.3
        polling = asyncio.create_task(convergence.wait_all(
            ("127.0.0.1", dns_port), dns_started, 2 * count * members, True, changed, {},
            timeout=timeout))
        limit = asyncio.Semaphore(48)

        async def send(method: str, url: str, body: dict[str, Any]) -> None:
            status = await client.request(method, url, body)
            if status >= 300:
                raise RuntimeError(f"{method} {url}: HTTP {status}")

        async def apply(name: str, where: str, replicas: int) -> None:
            await send("POST", where + DEPLOYMENTS, deployment(name, replicas))
            await send("POST", where + SERVICES, service(name))

        async def one(kind: str, j: int, due: float) -> None:
            name = f"{kind}{j:04d}"
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            async with limit:
                started[name] = time.monotonic()
                for s in specs:
                    dns_started[member_name(s.name, name)] = started[name]
                if kind == "e":
                    await apply(name, endpoint, members)
                else:
                    await asyncio.gather(*(apply(name, urls[s.name], 1) for s in specs))

        order = [(kind, j) for j in range(count) for kind in ("e", "f")]
        random.Random(1).shuffle(order)
        began = time.monotonic()
        await asyncio.gather(*(one(kind, j, began + (i // 2) / rate if rate > 0 else 0.0)
                               for i, (kind, j) in enumerate(order)))
        print(f"applied {count} at the endpoint and {count} x {members} in the members in "
              f"{time.monotonic() - began:.2f} s", flush=True)

        names = {kind: [f"{kind}{j:04d}" for j in range(count)] for kind in ("e", "f")}
        where = [s.name for s in specs]

        def done() -> bool:
            return (all((m, n) in seen.copied for kind in names for n in names[kind]
                        for m in where) and
                    all(("", n) in seen.ready for n in names["e"]) and
                    all((m, n) in seen.ready for n in names["f"] for m in where))
        deadline = time.monotonic() + timeout
        failed = 0
        while not done():
            if time.monotonic() > deadline:
                # the figures of what got there still say something (n= tells how many)
                print(f"not every copy Available within {timeout:.0f} s", flush=True)
                failed = 1
                break
            await asyncio.sleep(0.1)
        dns = await polling

        def figures(kind: str) -> dict[str, list[float]]:
            copies, ready, answered = [], [], []
            for n in names[kind]:
                start = started[n]
                if all((m, n) in seen.copied for m in where):
                    copies.append(max(seen.copied[(m, n)] for m in where) - start)
                if kind == "e" and ("", n) in seen.ready:
                    ready.append(seen.ready[("", n)] - start)
                elif kind == "f" and all((m, n) in seen.ready for m in where):
                    ready.append(max(seen.ready[(m, n)] for m in where) - start)
                found = [dns[member_name(m, n)] for m in where if member_name(m, n) in dns]
                if len(found) == len(where):
                    answered.append(max(found))
            return {"copy in every member": copies, "Available": ready,
                    "in DNS, every member": answered}

        fed, floor = figures("e"), figures("f")
        for what in fed:
            if not fed[what] or not floor[what]:
                print(f"{what}: not every application got there", flush=True)
                failed = 1
                continue
            convergence.report(f"endpoint: {what}", fed[what])
            convergence.report(f"floor:    {what}", floor[what])
            ratio = convergence.pct(fed[what], .99) / max(convergence.pct(floor[what], .99), 1e-6)
            target = TARGETS.get(what)
            verdict = ""
            if target is not None:
                verdict = (f"; p99 {'meets' if convergence.pct(fed[what], .99) < target else 'misses'}"
                           f" the {target:.0f} s target")
            print(f"  endpoint p99 / floor p99: {ratio:.2f}x{verdict}", flush=True)
        print(f"(fedns log: {log.name})", flush=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
        client.close()
        if replica is not None:
            procs.stop_process(replica)
        procs.stop_process(sim_proc)
        etcd.stop()
    if profile and os.path.exists(profile):
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return failed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.propagation")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0, metavar="R",
                        help="start R applications a second (default: all at once)")
    parser.add_argument("--profile", default="", metavar="FILE",
                        help="run fedns under cProfile, keep the stats in FILE")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.members, args.deployments, args.profile, args.rate)))
