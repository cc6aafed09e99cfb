"""CPU per query of the embedded server's answer path, without sockets: misses, hits and
answers under churn, against the same answers read and written by dnslib in one run.

``python -m bench.dns.miss`` builds the federation zone of ``python -m bench.dns``
(21,666 keys) and prebuilt query packets (global, region, zone and member names, and
names that do not exist; A without EDNS as the convergence poller sends them, A and
AAAA with EDNS0, SRV, TXT), then times ``Server.respond`` per packet in thread CPU,
the zone changes made before each query not included (the server's dropping of what
they affect is, as it happens when it next answers):

- ``miss``: a key at or under the queried name's path is written again (for a name
  that does not exist, one is added and removed) and the revision moves on, so no
  cache can reuse the answer;
- ``churn``: a random key is written again and the revision moves on, as when a
  controller writes thousands of records a second;
- ``hit``: nothing changes.

The peer, ``dnslib``, is ``DNSRecord.parse`` + ``answer.answer`` + ``pack``: the same
answers with dnslib reading the query and writing the response, which is what every
miss cost before :mod:`fedns.dnsserver.wire`.  Run on an older commit, the same command
measures the server as it was.  After a warm-up pass, prints the best of ``--repeat``
passes per mode in µs per query, the ratio to the peer and the share of cache hits.
Asserts nothing about time; it does check every response against the peer's, byte
for byte.
"""

from __future__ import annotations

import argparse
import bisect
import pathlib
import random
import sys
import time
from collections.abc import Callable

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import dns.message
from dnslib import DNSRecord

from bench.dns import __main__ as dns_bench
from fedns.dnsserver import answer, server, settings, zone

SITES = (settings.Site.make("umich", "mw", "a", ["10.1.0.0/16"]),
         settings.Site.make("msu", "mw", "b", ["10.2.0.0/16"]))
CLIENT = "192.0.2.99"  # in no site: every healthy address


def queries(names: list[str], rng: random.Random, count: int) -> list[tuple[bytes, str]]:
    """(packet, the name whose records it reads) for ``count`` sampled queries."""
    out = []
    for i in range(count):
        name = rng.choice(names)
        if i % 5 == 4:  # a name that does not exist (yet), under a real namespace
            name = f"nx{i}.{name.split('.', 1)[1]}"
        kind = i % 7
        if kind <= 2:  # the poller's query: A, RD, no EDNS
            message = dns.message.make_query(name, "A", use_edns=False)
        elif kind == 3:
            message = dns.message.make_query(name, "AAAA", use_edns=0, payload=1232)
        elif kind == 4:
            message = dns.message.make_query(name, "SRV", use_edns=0, payload=1232)
        elif kind == 5:
            message = dns.message.make_query(name, "TXT", use_edns=False)
        else:
            message = dns.message.make_query(name, "A", use_edns=0, payload=4096)
        message.id = i & 0xFFFF
        out.append((message.to_wire(), name))
    return out


def timed(packets: list[tuple[bytes, str]], before: Callable[[str], None],
          call: Callable[[bytes], bytes | None]) -> float:
    """µs of thread CPU per query for one pass (``before`` each query is not timed)."""
    spent = 0.0
    clock = time.thread_time
    for packet, name in packets:
        before(name)
        start = clock()
        call(packet)
        spent += clock() - start
    return spent / len(packets) * 1e6


class Churn:
    """Zone changes made before each query (see the module docstring)."""

    def __init__(self, z: zone.Zone, records: dict[str, str], rng: random.Random) -> None:
        self.zone = z
        self.values = {key.encode(): value.encode() for key, value in records.items()}
        self.keys = sorted(self.values)
        self.rng = rng

    def own(self, name: str) -> None:
        """Write again a key at or under ``name``'s path (or add and remove one)."""
        path = b"/skydns/" + "/".join(reversed(name.rstrip(".").split("."))).encode()
        i = bisect.bisect_left(self.keys, path)
        key = self.keys[i] if i < len(self.keys) else b""
        if key == path or key.startswith(path + b"/"):
            self.zone.put(key, self.values[key])
        else:  # a name that does not exist
            self.zone.put(path + b"/x", b'{"host":"192.0.2.1"}')
            self.zone.delete(path + b"/x")
        self.zone.revision += 1

    def other(self, name: str) -> None:
        """Write again the key of some record, and move the revision on."""
        key = self.keys[self.rng.randrange(len(self.keys))]
        self.zone.put(key, self.values[key])
        self.zone.revision += 1

    def nothing(self, name: str) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3000, help="queries per pass")
    parser.add_argument("--repeat", type=int, default=3, help="passes per mode (best shown)")
    parser.add_argument("--no-sites", action="store_true", help="serve without sites")
    args = parser.parse_args()

    rng = random.Random(7)
    records, names = dns_bench.federation()
    z = zone.Zone()
    for key, value in records.items():
        z.put(key.encode(), value.encode())
    config = settings.Settings(zones=(dns_bench.DOMAIN,), sites=() if args.no_sites else SITES)
    packets = queries(names, rng, args.queries)
    churn = Churn(z, records, rng)

    def peer(packet: bytes) -> bytes:
        reply = answer.answer(z, DNSRecord.parse(packet), None, config)
        return bytes(reply.pack())

    results: dict[str, tuple[float, float]] = {}
    for mode, before in [("dnslib", churn.own), ("miss", churn.own), ("churn", churn.other),
                         ("hit", churn.nothing)]:
        srv = server.Server(z, config)
        call = peer if mode == "dnslib" else (lambda p, s=srv: s.respond(p, CLIENT, server.UDP))
        timed(packets, before, call)  # warm up (and fill the cache)
        hits = srv.cache_hits
        best = min(timed(packets, before, call) for _ in range(args.repeat))
        rate = (srv.cache_hits - hits) / (len(packets) * args.repeat)
        if mode != "dnslib":
            for packet, name in packets:  # each response as the peer's at that moment
                before(name)
                reply, want = call(packet), peer(packet)
                if reply is None or (len(want) <= 512 and reply != want):  # else truncated
                    raise AssertionError(f"{mode}: response differs for {packet!r}")
        results[mode] = best, rate

    print(f"bench.dns.miss: {len(records)} keys, {args.queries} queries per pass "
          f"(4 in 7 A, 1 in 5 for names that do not exist), sites "
          f"{'off' if args.no_sites else 'on'}, best of {args.repeat} passes")
    print(f"{'mode':8} {'µs/query':>9} {'vs dnslib':>9} {'cache hits':>10}")
    for mode, (spent, rate) in results.items():
        print(f"{mode:8} {spent:9.1f} {spent / results['dnslib'][0]:9.2f} {rate:10.0%}")


if __name__ == "__main__":
    main()
