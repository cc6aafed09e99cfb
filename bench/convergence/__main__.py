"""Convergence: N members x M LoadBalancer Services created at once, to DNS and back.

Starts a real etcd (free loopback ports, temp dir), N simulated members (``fedns
sim``) and ``fedns run``, each a process of its own.  Creates every Service (with a
ready EndpointSlice) through the members' API as fast as they take them (48 requests
in flight, over the lean client of ``http.py``) while polling the DNS server, and
prints p50/p99/max of the time from a Service's creation request leaving for its
member to that copy's name answering; then deletes them all and prints the time until
each name is NXDOMAIN.  The peer is the etcd write itself: the same run measures
p50/p99 of one etcd put + its watch event arriving, and prints the convergence p99 as
a multiple of it.

    python -m bench.convergence [--members 3] [--services 1000] [--rate N] [--profile FILE]
                                [--dns-workers N]

It also prints the CPU time ``fedns run`` spent from the first creation until every
name answered, per copy, and that of its DNS worker processes (Linux: read from
/proc): on a machine this small the load generator, the members and etcd share the
cores with fedns, so latency follows fedns's CPU per copy.  ``--rate N`` creates at most N copies a second
instead of as fast as the members take them, for a steady, uncontended figure.

``--profile FILE`` runs ``fedns run`` under cProfile (its event loop thread) and
prints the functions that took the most time; the stats stay in FILE for pstats.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

from bench.convergence import http
from fedns import config as config_mod
from fedns import store as store_mod
from fedns.dnsserver import workers as dns_workers
from fedns.records import skydns
from fedns.sim import cluster
from tests.support import procs

DOMAIN, FEDERATION = "bench.example", "bench"
NXDOMAIN = 3


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(what: str, values: list[float]) -> None:
    print(f"{what:<34} n={len(values):>6}  p50={pct(values, .5) * 1000:8.1f} ms  "
          f"p99={pct(values, .99) * 1000:8.1f} ms  max={max(values) * 1000:8.1f} ms", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (Linux /proc; none elsewhere)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


# the Service controller's reconciles (the status controller's are not per copy)
SERVICE_RECONCILES = 'fedns_controller_reconcile_total{controller="services",'


def counter(api_port: int, name: str) -> float:
    """The sum of fedns's counter ``name`` (every label set; or a prefix of a sample
    ending in ``,``) so far, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/metrics", timeout=5) as r:
        return sum(float(line.split()[-1]) for line in r.read().decode().splitlines()
                   if line.startswith((name, name + "{", name + " ") if name.endswith(",")
                                      else (name + "{", name + " ")))


def query(qid: int, name: str) -> bytes:
    """An A query for ``name`` (RD set), built by hand: the poller asks thousands of
    these and is itself on the measured machine, so it spends as little as it can."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + b"\0\0\1\0\1"


class Poller(asyncio.DatagramProtocol):
    """Collects replies as id -> (rcode, answer count, the rest after the header)."""

    def __init__(self) -> None:
        self.responses: dict[int, tuple[int, int, bytes]] = {}

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < 12:
            return  # a broken answer is just not counted
        qid, flags, _, ancount = struct.unpack_from("!HHHH", data)
        self.responses[qid] = (flags & 0xF, ancount, data[12:])


async def wait_all(server: tuple[str, int], names: dict[str, float], expected: int,
                   answered: bool, changed: asyncio.Queue[tuple[str, float]],
                   stored: dict[str, float], timeout: float = 120.0) -> dict[str, float]:
    """name -> seconds from its start time until it answers (or is NXDOMAIN); also
    fills ``stored``: name -> seconds until its records first changed in etcd.

    Runs while the names are still being created: ``names`` (name -> the moment its
    request was sent) grows until it holds ``expected`` names.  A name is queried
    once the Store shows its records changed (``changed``, fed by an etcd watch with
    each event's arrival time), then again after 10, 20, 40 ... 160 ms until it
    reaches its goal, so polling does not load the DNS server with queries that
    cannot succeed yet."""
    loop = asyncio.get_running_loop()
    transport, poller = await loop.create_datagram_endpoint(Poller, remote_addr=server)
    done: dict[str, float] = {}
    seen: dict[str, float] = {}  # name -> when its records changed (it may not be due yet)
    due: dict[str, float] = {}  # candidate name -> when to (re)send its query
    wait: dict[str, float] = {}  # candidate name -> its current re-query interval
    # query id -> (name, question section): one query per name in flight
    outstanding: dict[int, tuple[str, bytes]] = {}
    next_id = 0
    deadline = time.monotonic() + timeout
    try:
        while len(done) < expected and time.monotonic() < deadline:
            while not changed.empty():
                name, at = changed.get_nowait()
                seen.setdefault(name, at)
            for name, at in list(seen.items()):
                if name in names:  # its request has been sent
                    del seen[name]
                    if name not in done:
                        due.setdefault(name, 0.0)
                        if name not in stored:  # first time its records changed in etcd
                            stored[name] = max(0.0, at - names[name])
            now = time.monotonic()
            for name, when in list(due.items()):
                if when <= now:
                    next_id = (next_id + 1) % 65536
                    packet = query(next_id, name)
                    outstanding[next_id] = (name, packet[12:])
                    due[name] = now + 0.2  # resend if no answer within 200 ms
                    transport.sendto(packet)
            await asyncio.sleep(0.002)
            now = time.monotonic()
            for rid, (rcode, ancount, rest) in poller.responses.items():
                name, question = outstanding.pop(rid, ("", b""))
                if name not in due or not rest.startswith(question):
                    continue
                ok = ancount > 0 if answered else rcode == NXDOMAIN
                if ok:
                    done[name] = now - names[name]
                    due.pop(name, None)
                else:
                    # not yet: ask again after 10 ms, doubling up to 160 ms (the figures'
                    # resolution; asking harder would load the server being measured)
                    wait[name] = min(0.16, wait.get(name, 0.005) * 2)
                    due[name] = now + wait[name]
            poller.responses.clear()
    finally:
        transport.close()
    if len(done) < expected:
        print(f"  {expected - len(done)} names never converged within {timeout:.0f}s", flush=True)
    return done


async def follow_records(url: str, out: asyncio.Queue[tuple[str, float]]) -> None:
    """Put (``<member>.<service>.default.F.svc.D``, arrival time) on ``out`` whenever
    its leaves change."""
    base = skydns.name_to_key(f"default.{FEDERATION}.svc.{DOMAIN}").encode() + b"/"
    st = await store_mod.open_store(url)
    try:
        async for events in st.watch(base, await st.revision() + 1, prev=False):
            now = time.monotonic()
            for event in events:
                parts = event.kv.key[len(base):].decode().split("/")
                if len(parts) == 3:  # service/member/ip
                    out.put_nowait((f"{parts[1]}.{parts[0]}.default.{FEDERATION}.svc.{DOMAIN}",
                                    now))
    finally:
        await st.close()


async def etcd_peer(url: str, n: int = 500) -> list[float]:
    """Latency of one etcd put until its watch event arrives, measured now."""
    st = await store_mod.open_store(url)
    try:
        rev = await st.revision()
        watch = st.watch(b"/bench-peer/", rev + 1)
        it = watch.__aiter__()
        out = []
        for i in range(n):
            start = time.monotonic()
            await st.put(b"/bench-peer/%d" % i, b"x")
            await it.__anext__()
            out.append(time.monotonic() - start)
        await watch.aclose()
        return out
    finally:
        await st.close()


async def main(members: int, services: int, profile: str = "", rate: float = 0.0,
               dns_worker_count: int | None = None) -> None:
    workdir = tempfile.mkdtemp(prefix="fedns-bench-")
    etcd = procs.EtcdCluster(1).start()
    spec_text = ",".join(f"m{i}:r{i % 2}:z{i}" for i in range(members))
    specs = cluster.parse_members(spec_text)
    kubeconfig = os.path.join(workdir, "kubeconfig")
    # the members are a process of their own, as real API servers would be
    sim_log = open(os.path.join(workdir, "sim.log"), "w")  # noqa: SIM115
    sim_proc = subprocess.Popen([sys.executable, "-m", "fedns.cli", "sim", "--members", spec_text,
                                 "--kubeconfig", kubeconfig], stdout=sim_log,
                                stderr=subprocess.STDOUT)
    replica = None
    session = http.Client(limit=64)
    try:
        await asyncio.to_thread(procs.wait_for, lambda: os.path.exists(kubeconfig), 30,
                                "sim kubeconfig")
        with open(kubeconfig) as f:
            urls = {c["name"]: c["cluster"]["server"] for c in yaml.safe_load(f)["clusters"]}
        dns_port, api_port = procs.free_port(), procs.free_port()
        config = {
            "federation": FEDERATION, "domain": DOMAIN, "store": etcd.url,
            "dns": {"listen": f"127.0.0.1:{dns_port}",
                    **({} if dns_worker_count is None else {"workers": dns_worker_count})},
            "api": {"listen": f"127.0.0.1:{api_port}"},
            "members": [{"name": s.name, "kubeconfig": kubeconfig, "context": s.name}
                        for s in specs],
            "pools": [{"name": f"{s.name}-pool", "site": s.name,
                       "addresses": [f"10.{100 + i}.0.0/16"]} for i, s in enumerate(specs)],
        }
        config_path = os.path.join(workdir, "config.yaml")
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        log = open(os.path.join(workdir, "fedns.log"), "w")  # noqa: SIM115
        profiler = ["-m", "cProfile", "-o", profile] if profile else []
        replica = subprocess.Popen([sys.executable, *profiler, "-m", "fedns.cli", "run",
                                    "--config", config_path], stdout=log,
                                   stderr=subprocess.STDOUT)
        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/readyz", timeout=1) as r:
                return r.status == 200
        await asyncio.to_thread(procs.wait_for, ready, 60, "fedns /readyz")  # the members answer meanwhile
        peer = await etcd_peer(etcd.url)

        print(f"{members} members x {services} Services, fedns run against etcd "
              f"({etcd.url}), DNS on 127.0.0.1:{dns_port} (dns.workers: "
              f"{config_mod.load(config_path).dns.workers})", flush=True)
        changed: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        follower = asyncio.create_task(follow_records(etcd.url, changed))
        order = [(m.name, j) for j in range(services) for m in specs]
        random.Random(1).shuffle(order)
        limit = asyncio.Semaphore(48)
        dns = ("127.0.0.1", dns_port)

        def member_name(member: str, j: int) -> str:
            # each member's copy has its own name: <member>.S.N.F.svc.D
            return f"{member}.s{j:05d}.default.{FEDERATION}.svc.{DOMAIN}"

        async def send(method: str, url: str, body: dict | None = None) -> None:
            status = await session.request(method, url, body)
            if status >= 300:
                raise RuntimeError(f"{method} {url}: HTTP {status}")

        # names are polled while they are being created: name -> request sent
        created: dict[str, float] = {}
        stored_up: dict[str, float] = {}
        polling = asyncio.create_task(wait_all(dns, created, len(order), True, changed,
                                               stored_up))

        async def create(member: str, j: int) -> None:
            # the Service, then at once its ready EndpointSlice (as a member's
            # endpoint controller would); the clock starts when the first request leaves
            svc_name = f"s{j:05d}"
            base = urls[member] + "/api/v1/namespaces/default/services"
            service = {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": svc_name, "namespace": "default"},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
            endpoints = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                         "metadata": {"name": f"{svc_name}-x",
                                      "labels": {"kubernetes.io/service-name": svc_name}},
                         "addressType": "IPv4",
                         "endpoints": [{"addresses": ["10.0.0.1"],
                                        "conditions": {"ready": True}}]}
            if rate:  # this copy's slot in a steady stream
                await asyncio.sleep(max(0.0, began + slot[member, j] / rate - time.monotonic()))
            async with limit:
                created[member_name(member, j)] = time.monotonic()
                await send("POST", base, service)
                await send("POST", urls[member] +
                           "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                           endpoints)

        slot = {copy: i for i, copy in enumerate(order)}
        cpu_before = cpu_seconds(replica.pid)
        dns_pids = children(replica.pid)  # its DNS workers (dns.workers)
        dns_before = sum(cpu_seconds(p) for p in dns_pids)
        began = time.monotonic()
        await asyncio.gather(*(create(m, j) for m, j in order))
        print(f"created {len(order)} Services in the members in "
              f"{time.monotonic() - began:.2f} s", flush=True)
        up = await polling
        fedns_cpu = cpu_seconds(replica.pid) - cpu_before
        dns_cpu = sum(cpu_seconds(p) for p in dns_pids) - dns_before
        created_reconciles = counter(api_port, SERVICE_RECONCILES)
        # the DNS workers report their counters once a second
        await asyncio.sleep(dns_workers.REPORT_EVERY * 1.5)
        created_queries = counter(api_port, "fedns_dns_requests_total")
        report("creation -> records in etcd", list(stored_up.values()))
        report("creation -> member name answers", list(up.values()))
        print(f"fedns CPU from the first creation until every name answered: "
              f"{fedns_cpu:.2f} s, {fedns_cpu / len(order) * 1000:.2f} ms per copy; its "
              f"{len(dns_pids)} DNS worker(s): {dns_cpu:.2f} s, "
              f"{dns_cpu / len(order) * 1000:.2f} ms per copy", flush=True)

        while not changed.empty():  # creation's record changes are done with
            changed.get_nowait()
        deleted: dict[str, float] = {}
        polling = asyncio.create_task(wait_all(dns, deleted, len(order), False, changed, {}))

        async def delete(member: str, j: int) -> None:
            async with limit:
                deleted[member_name(member, j)] = time.monotonic()
                await send("DELETE",
                           urls[member] + f"/api/v1/namespaces/default/services/s{j:05d}")

        await asyncio.gather(*(delete(m, j) for m, j in order))
        down = await polling
        follower.cancel()
        report("deletion -> name is NXDOMAIN", list(down.values()))
        report("peer: etcd put -> watch event", peer)
        if up:
            print(f"convergence p99 / etcd put+watch p99: "
                  f"{pct(list(up.values()), .99) / pct(peer, .99):.1f}x; "
                  f"p99 {'meets' if pct(list(up.values()), .99) < 1 else 'misses'} "
                  f"the 1 s target", flush=True)
        print(f"(mean {statistics.mean(up.values()) * 1000:.1f} ms; reconciles: "
              f"{created_reconciles:.0f} until every name answered, "
              f"{counter(api_port, SERVICE_RECONCILES):.0f} in all, for {len(order)} "
              f"copies of {services} services; DNS queries until every name answered: "
              f"{created_queries:.0f}; fedns log: {log.name})")
    finally:
        if replica is not None:
            procs.stop_process(replica)
        session.close()
        procs.stop_process(sim_proc)
        etcd.stop()
    if profile and os.path.exists(profile):
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.convergence")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0, metavar="N",
                        help="create at most N copies a second (default: as fast as possible)")
    parser.add_argument("--profile", default="", metavar="FILE",
                        help="run fedns under cProfile, keep the stats in FILE")
    parser.add_argument("--dns-workers", type=int, default=None, metavar="N",
                        help="fedns's dns.workers (default: the config default, 1 with etcd)")
    args = parser.parse_args()
    asyncio.run(main(args.members, args.services, args.profile, args.rate, args.dns_workers))
