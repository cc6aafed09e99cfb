"""``fedns sim``: run simulated member clusters on loopback until stopped.

Parses the options into :class:`Settings` and calls :func:`run`, which starts the
members (:mod:`fedns.sim.cluster`), waits until each answers ``/readyz``, writes the
kubeconfig, prints one line per member, and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
from collections.abc import Coroutine
from typing import Any

from fedns import errors, gctune
from fedns.sim import cluster


@dataclasses.dataclass(frozen=True)
class Settings:
    members: list[cluster.MemberSpec]
    kubeconfig: str
    token: str | None = None
    host: str = "127.0.0.1"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sim", help="run simulated member clusters on loopback",
        description="Start one simulated Kubernetes API server per member on a free "
                    "loopback port, write a kubeconfig with one context per member once "
                    "all are ready, and run until SIGINT/SIGTERM.  Without REGION:ZONE a "
                    "member's Nodes are in region NAME, zone NAME-a (NAME:REGION gives zone "
                    "REGION-a).")
    parser.add_argument("--members", required=True, metavar="NAME[:REGION:ZONE],...",
                        help="members to simulate, e.g. umich:us-east:us-east-1a,msu")
    parser.add_argument("--kubeconfig", required=True, metavar="PATH",
                        help="where to write the kubeconfig (written once all are ready)")
    parser.add_argument("--token", default=None, metavar="T",
                        help="require this bearer token (it goes into the kubeconfig)")
    parser.add_argument("--nodes", type=int, default=cluster.NODES_PER_MEMBER, metavar="N",
                        help="Nodes per member (default %(default)s)")
    parser.set_defaults(func=_command)


def _settings(args: argparse.Namespace) -> Settings:
    if args.nodes < 0:
        raise cluster.BadMemberSpec(f"--nodes must be 0 or more, got {args.nodes}")
    if args.token is not None and (not args.token or any(c.isspace() for c in args.token)):
        raise errors.UsageError("--token must be non-empty and without spaces")
    return Settings(cluster.parse_members(args.members, args.nodes), args.kubeconfig,
                    args.token)


def _command(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    gctune.tune()  # a process of its own: its collector settings are its own
    return run(_settings(args))  # the CLI runs the coroutine


async def run(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Serve the members until ``stop`` is set or a SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    members = await cluster.start_members(settings.members, settings.token, settings.host)
    try:
        await cluster.wait_ready(members)
        cluster.write_kubeconfig(members, settings.kubeconfig, settings.token)
        for member in members:
            print(f"member {member.name}: {member.url} (region {member.spec.region}, "
                  f"zone {member.spec.zone}, context {member.name})", flush=True)
        print(f"kubeconfig: {settings.kubeconfig}", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await cluster.stop_members(members)
    return 0
