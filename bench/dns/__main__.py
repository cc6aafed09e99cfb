"""DNS serving: the embedded fedns server against nsd, measured by dnsperf in one run.

``python -m bench.dns`` (from the repository) builds a 10,000-name federation zone:
2,500 services of a three-member federation (umich in mw/a, msu in mw/b, ucsd in
west/c, ucsd unhealthy for every third service), each asked by its global, region,
zone and member name.  fedns serves the records fedns.records writes for them; nsd
serves a zone file holding, for every one of those names, exactly the records fedns
answers (computed with fedns's own answer()), so both give the same answers.  The
query file is 80% those names and 20% names that do not exist, all type A, and
dnsperf sends them with EDNS0.

Each server is one process (nsd ``server-count: 1``, response-rate limiting off with
``rrl-ratelimit: 0``), pinned to one CPU with dnsperf on another when there are two.
After a warm-up pass each, the servers take turns in rounds of throughput runs (QPS
and dnsperf's mean latency; the median round is shown with the range, since a
shared machine is noisy), then one latency run each with ``-v`` (every response's
latency, for p50/p99: dnsperf 2.10 has no histogram, and ``-v`` costs dnsperf time,
so QPS comes from the runs without it).  Every server is stopped by its own pid.
Prints a table and the fedns/nsd ratios of the medians; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import dns.exception
import dns.message
import dns.query
import dns.rcode
from dnslib import DNSRecord

from fedns.dnsserver import answer, settings, zone
from fedns.records import desired
from placement import topology

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOMAIN = "example.com"
SERVICES = 2_500  # x 4 names each = 10,000 names
TOPOLOGY = [topology.Location("umich", "umich", "mw", "a"),
            topology.Location("msu", "msu", "mw", "b"),
            topology.Location("ucsd", "ucsd", "west", "c")]


# --- the zone ------------------------------------------------------------------


def federation() -> tuple[dict[str, str], list[str]]:
    """Every record of the federation, and the 10,000 names asked."""
    records: dict[str, str] = {}
    names: list[str] = []
    for i in range(SERVICES):
        ref = desired.ServiceRef("myfed", f"ns{i % 50}", f"svc{i}")
        states = [
            desired.MemberState("umich", (f"10.1.{i // 250}.{i % 250 + 1}",), True),
            desired.MemberState("msu", (f"10.2.{i // 250}.{i % 250 + 1}",), True),
            desired.MemberState("ucsd", (f"10.3.{i // 250}.{i % 250 + 1}",), i % 3 != 0),
        ]
        records.update(desired.records(ref, DOMAIN, TOPOLOGY, states))
        names += [desired.global_name(ref, DOMAIN), desired.region_name(ref, DOMAIN, "mw"),
                  desired.zone_name(ref, DOMAIN, "mw", "a"),
                  desired.member_name(ref, DOMAIN, "umich")]
    return records, names


def zone_file(records: dict[str, str], names: list[str]) -> str:
    """An nsd zone with exactly what fedns answers for each asked name."""
    z = zone.Zone()
    for key, value in records.items():
        z.put(key.encode(), value.encode())
    config = settings.Settings(zones=(DOMAIN,))
    lines = [f"$ORIGIN {DOMAIN}.", "$TTL 30",
             f"@ 30 IN SOA ns.dns.{DOMAIN}. hostmaster.{DOMAIN}. 1 7200 1800 86400 30",
             f"@ 300 IN NS ns.dns.{DOMAIN}.", "ns.dns 300 IN A 127.0.0.1"]
    seen: set[str] = set()
    for name in names:
        reply = answer.answer(z, DNSRecord.question(name, "A"), None, config)
        for rr in reply.rr:
            text = rr.toZone()
            if text not in seen:
                seen.add(text)
                lines.append(text)
    return "\n".join(lines) + "\n"


def query_file(names: list[str], rng: random.Random) -> str:
    missing = [f"nx{i}.ns{i % 50}.myfed.svc.{DOMAIN}" for i in range(len(names) // 4)]
    queries = [f"{name} A" for name in names + missing]  # 80% names, 20% NXDOMAIN
    rng.shuffle(queries)
    return "\n".join(queries) + "\n"


# --- processes -----------------------------------------------------------------


def free_port() -> int:
    """A port free on loopback for both UDP and TCP (racy, as any free-port pick)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """``argv`` run on ``cpu`` (via taskset) when one is given."""
    if cpu is None or not shutil.which("taskset"):
        return argv
    return ["taskset", "-c", str(cpu), *argv]


def cpus() -> tuple[int | None, int | None]:
    """(server CPU, dnsperf CPU) when there are two to give."""
    mine = sorted(os.sched_getaffinity(0))
    return (mine[-1], mine[0]) if len(mine) >= 2 else (None, None)


def wait_answering(port: int, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    query = dns.message.make_query(name, "A")
    while True:
        try:
            reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
            if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                return
        except (OSError, dns.exception.Timeout):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer on port {port} within {timeout}s")


@contextlib.contextmanager
def process(argv: list[str], cpu: int | None, log: pathlib.Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(pinned(argv, cpu), stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()  # this server's own pid, nothing broader
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nsd_conf(work: pathlib.Path, port: int) -> pathlib.Path:
    conf = work / "nsd.conf"
    conf.write_text(f"""server:
  server-count: 1
  ip-address: 127.0.0.1@{port}
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{work}"
  pidfile: "{work}/nsd.pid"
  zonelistfile: "{work}/zone.list"
  xfrdfile: "{work}/xfrd.state"
  xfrdir: "{work}"
  logfile: "{work}/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
  minimal-responses: yes
  refuse-any: yes
remote-control:
  control-enable: no
zone:
  name: {DOMAIN}
  zonefile: "{work}/{DOMAIN}.zone"
""")
    return conf


# --- measuring ----------------------------------------------------------------------


def _figure(pattern: str, out: str) -> float:
    found = re.search(pattern, out)
    if found is None:
        raise SystemExit(f"dnsperf printed no {pattern!r}:\n{out}")
    return float(found.group(1))


def dnsperf(port: int, queries: pathlib.Path, seconds: float, cpu: int | None,
            verbose: bool, clients: int, outstanding: int) -> tuple[dict[str, float], list[float]]:
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-e",
            "-l", str(seconds), "-c", str(clients), "-q", str(outstanding)]
    if verbose:
        argv.append("-v")
    proc = subprocess.run(pinned(argv, cpu), capture_output=True, text=True, check=True)
    out = proc.stdout
    stats = {
        "qps": _figure(r"Queries per second:\s+([\d.]+)", out),
        "mean": _figure(r"Average Latency \(s\):\s+([\d.]+)", out),
        "lost": _figure(r"Queries lost:\s+(\d+)", out),
        "response_bytes": _figure(r"response (\d+)", out),
    }
    latencies = [float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", out, re.MULTILINE)]
    return stats, latencies


def measure(ports: dict[str, int], queries: pathlib.Path, args: argparse.Namespace,
            cpu: int | None) -> dict[str, dict[str, float]]:
    """Rounds of throughput runs, the servers alternating (so a noisy neighbour hits
    both), then one latency run each; the median round is reported."""
    def run(port: int, seconds: float, verbose: bool) -> tuple[dict[str, float], list[float]]:
        return dnsperf(port, queries, seconds, cpu, verbose, args.clients, args.outstanding)

    for port in ports.values():
        run(port, args.warmup, False)
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in ports}
    names = list(ports)
    for i in range(args.rounds):
        for name in names[i % 2:] + names[:i % 2]:
            rounds[name].append(run(ports[name], args.seconds, False)[0])
    results = {}
    for name, port in ports.items():
        runs = sorted(rounds[name], key=lambda r: r["qps"])
        stats = dict(runs[len(runs) // 2])
        stats["qps_min"], stats["qps_max"] = runs[0]["qps"], runs[-1]["qps"]
        _, latencies = run(port, args.latency_seconds, True)
        latencies.sort()
        stats["p50"] = statistics.median(latencies)
        stats["p99"] = latencies[int(len(latencies) * 0.99)]
        stats["samples"] = len(latencies)
        results[name] = stats
    return results


def same_answers(port_a: int, port_b: int, names: list[str], rng: random.Random) -> int:
    sample = rng.sample(names, 200) + ["nx1.ns1.myfed.svc.example.com"]
    for name in sample:
        query = dns.message.make_query(name, "A")
        a, b = (dns.query.udp(query, "127.0.0.1", port=p, timeout=2) for p in (port_a, port_b))
        if a.rcode() != b.rcode() or {str(r) for r in a.answer} != {str(r) for r in b.answer}:
            raise AssertionError(f"fedns and nsd differ on {name}:\n{a}\n---\n{b}")
    return len(sample)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="one throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput runs per server")
    parser.add_argument("--latency-seconds", type=float, default=4)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--outstanding", type=int, default=200)
    args = parser.parse_args()
    for tool in ("dnsperf", "nsd"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is not installed (Debian packages dnsperf, nsd)")
    nsd_bin = shutil.which("nsd") or "/usr/sbin/nsd"

    rng = random.Random(5)
    started = time.monotonic()
    records, names = federation()
    server_cpu, perf_cpu = cpus()
    with tempfile.TemporaryDirectory(prefix="fedns-bench-dns-") as tmp:
        work = pathlib.Path(tmp)
        (work / f"{DOMAIN}.zone").write_text(zone_file(records, names))
        (work / "records.json").write_text(json.dumps(records))
        queries = work / "queries.txt"
        queries.write_text(query_file(names, rng))
        fedns_port, nsd_port = free_port(), free_port()
        fedns_argv = [sys.executable, "-m", "bench.dns.fedns_server",
                      str(work / "records.json"), str(fedns_port), DOMAIN]
        nsd_argv = [nsd_bin, "-d", "-c", str(nsd_conf(work, nsd_port))]
        with process(fedns_argv, server_cpu, work / "fedns.log"), \
                process(nsd_argv, server_cpu, work / "nsd.out"):
            wait_answering(fedns_port, names[0])
            wait_answering(nsd_port, names[0])
            agreed = same_answers(fedns_port, nsd_port, names, rng)
            # Both run all along on the same CPU; the one not measured only waits in
            # its poll.
            results = measure({"nsd": nsd_port, "fedns": fedns_port}, queries, args, perf_cpu)

    print(f"dns bench: {len(names)} names ({SERVICES} services x 4 names), "
          f"{len(records)} keys; 80% hits, 20% NXDOMAIN, type A, EDNS0")
    print(f"dnsperf -c {args.clients} -q {args.outstanding}; per server {args.rounds} x "
          f"{args.seconds:g} s throughput runs, alternating (median shown), then "
          f"{args.latency_seconds:g} s with -v for p50/p99; one server process each"
          + (f", server on CPU {server_cpu}, dnsperf on CPU {perf_cpu}" if server_cpu is not None
             else ""))
    print(f"answers agree on {agreed} sampled names\n")
    print(f"{'server':8} {'QPS':>9} {'QPS range':>17} {'mean ms':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'lost':>5} {'resp B':>6}")
    for name, r in results.items():
        spread = f"{r['qps_min']:.0f}-{r['qps_max']:.0f}"
        print(f"{name:8} {r['qps']:9.0f} {spread:>17} {r['mean'] * 1e3:8.3f} "
              f"{r['p50'] * 1e3:7.3f} {r['p99'] * 1e3:7.3f} {r['lost']:5.0f} "
              f"{r['response_bytes']:6.0f}")
    f, n = results["fedns"], results["nsd"]
    print(f"\nratio fedns/nsd: QPS {f['qps'] / n['qps']:.2f}, mean latency "
          f"{f['mean'] / n['mean']:.2f}, p99 latency {f['p99'] / n['p99']:.2f}")
    print(f"(took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
