"""Workload cases of ``python -m bench.kapi``: what the simulated controllers cost.

- A Deployment of ``--replicas`` (default 100) from create until every Pod is Ready
  and the Deployment is Available: the sim process's CPU per Pod, against the CPU of
  one plain Service create measured in the same run (the controllers write a
  ReplicaSet, and per Pod a create, a binding, a scheduled status and a running
  status, and EndpointSlice-free status updates).
- A member holding ``--pods`` (default 10,000) Running Pods: the growth of the sim
  process's resident memory per Pod, against its growth per plain Service for as
  many Services, both in a fresh ``fedns sim`` with enough Nodes for the Pods.

Linux only (/proc).  Reports figures and ratios; asserts nothing about them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import aiohttp
import yaml

PODS_PER_NODE = 110


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "mem"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


async def _send(session: aiohttp.ClientSession, limit: asyncio.Semaphore, method: str,
                url: str, body: Any = None) -> Any:
    async with limit, session.request(method, url, json=body) as response:
        data = await response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data)


async def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} not reached within {timeout}s")
        await asyncio.sleep(0.05)


async def deployment_case(session: aiohttp.ClientSession, url: str, pid: int,
                          replicas: int, cpu_seconds: Any) -> tuple[float, float]:
    """CPU ms per Pod and wall seconds from create to Available."""
    limit = asyncio.Semaphore(8)
    path = url + "/apis/apps/v1/namespaces/default/deployments"
    before, started = cpu_seconds(pid), time.monotonic()
    await _send(session, limit, "POST", path, deployment("bench", replicas))

    async def available() -> bool:
        found = await _send(session, limit, "GET", path + "/bench")
        status = found.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return (status.get("readyReplicas") == replicas == status.get("availableReplicas")
                and conditions.get("Available") == "True")
    await until(available, 600, f"Deployment of {replicas} available")
    return (cpu_seconds(pid) - before) / replicas * 1000, time.monotonic() - started


def start_sim(workdir: str, nodes: int) -> tuple[subprocess.Popen[bytes], str]:
    kubeconfig = os.path.join(workdir, "kubeconfig-mem")
    sim = subprocess.Popen([sys.executable, "-m", "fedns.cli", "sim", "--members", "mem",
                            "--nodes", str(nodes), "--kubeconfig", kubeconfig],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not os.path.exists(kubeconfig):
        if sim.poll() is not None or time.monotonic() > deadline:
            sim.kill()
            raise SystemExit("fedns sim did not write its kubeconfig")
        time.sleep(0.05)
    with open(kubeconfig) as f:
        return sim, yaml.safe_load(f)["clusters"][0]["cluster"]["server"]


async def memory_case(workdir: str, count: int) -> tuple[float, float]:
    """Resident bytes per plain Service and per Running Pod, in a fresh sim."""
    nodes = max(1, -(-count // (PODS_PER_NODE - 10)))
    sim, url = start_sim(workdir, nodes)
    try:
        limit = asyncio.Semaphore(32)
        connector = aiohttp.TCPConnector(limit=40)
        async with aiohttp.ClientSession(connector=connector) as session:
            services = url + "/api/v1/namespaces/default/services"
            pods = url + "/api/v1/namespaces/default/pods"
            base = rss_bytes(sim.pid)
            await asyncio.gather(*(_send(session, limit, "POST", services, {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
                "spec": {"ports": [{"port": 80}]}}) for i in range(count)))
            per_service = (rss_bytes(sim.pid) - base) / count
            base = rss_bytes(sim.pid)
            await asyncio.gather(*(_send(session, limit, "POST", pods, pod(f"p{i}"))
                                   for i in range(count)))

            async def running() -> bool:
                # one Pending Pod at most in the answer: listing 10,000 Pods on every
                # poll would be most of what the member does
                await asyncio.sleep(0.5)
                found = await _send(session, limit, "GET", pods + "?limit=1&fieldSelector="
                                    "status.phase%3DPending")
                return not found["items"]
            await until(running, 1800, f"{count} Pods Running")
            per_pod = (rss_bytes(sim.pid) - base) / count
        return per_service, per_pod
    finally:
        sim.terminate()
        sim.wait(30)
