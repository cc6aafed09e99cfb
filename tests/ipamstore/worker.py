"""An allocator process for the race tests: one IPAM replica serving many Services.

``python -m tests.ipamstore.worker --store URL --index K --workers N --total T``
ensures an address for every Service i < T with ``i % N`` in {K, K+1 mod N} (so
each Service is asked for by two workers at about the same time), ``--in-flight``
at a time, and prints ``i address`` per Service as soon as the Store holds it, then
``done``.  Retryable errors are retried; anything else ends the process non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from prometheus_client import CollectorRegistry

from fedns import errors, store
from fedns.ipamstore import manager
from ipam import allocator, request

MEMBER, SITE, POOL = "race", "race", "race-pool"


def owned(index: int, workers: int, total: int) -> list[int]:
    mine = {index % workers, (index + 1) % workers}
    return [i for i in range(total) if i % workers in mine]


def service(i: int) -> request.Request:
    return request.Request(MEMBER, "ns", f"svc-{i}", uid=f"uid-{i}")


async def run(args: argparse.Namespace) -> None:
    st = await store.open_store(args.store)
    ipam = manager.IPAM(st, {MEMBER: SITE}, registry=CollectorRegistry())
    await ipam.start()
    deadline = time.monotonic() + 30
    while POOL not in {p.name for p in ipam.pools()}:  # the test creates it
        if time.monotonic() > deadline:
            raise SystemExit(f"pool {POOL} never appeared")
        await asyncio.sleep(0.02)
    todo = iter(owned(args.index, args.workers, args.total))

    async def serve() -> None:
        for i in todo:
            while True:
                try:
                    outcome = await ipam.ensure(service(i))
                    break
                except errors.TemporaryError:
                    await asyncio.sleep(0.01)
            if isinstance(outcome, allocator.Refusal):
                raise SystemExit(f"svc-{i}: refused: {outcome.message}")
            print(i, outcome.assignments[0].address, flush=True)

    await asyncio.gather(*(serve() for _ in range(args.in_flight)))
    print("done", flush=True)
    await ipam.stop()
    await st.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--total", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=8)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
