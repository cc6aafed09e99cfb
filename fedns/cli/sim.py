"""``fedns sim``: run simulated member clusters on loopback until stopped.

Parses the options into :class:`Settings` and calls :func:`run`, which starts the
members (:mod:`fedns.sim.cluster`) with their controllers, waits until each answers
``/readyz``, writes the kubeconfig, starts the control server
(:mod:`fedns.sim.control`), prints one line per member and one for the control
server, and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import signal
from collections.abc import Coroutine
from typing import Any

from fedns import errors, gctune
from fedns.sim import cluster, control, runtime


@dataclasses.dataclass(frozen=True)
class Settings:
    members: list[cluster.MemberSpec]
    kubeconfig: str
    token: str | None = None
    host: str = "127.0.0.1"
    control_port: int = 0


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
    parser.add_argument("--ready-delay", type=float, default=runtime.Settings.ready_delay,
                        metavar="SECONDS",
                        help="from a Pod's binding to Running and Ready (default %(default)s)")
    parser.add_argument("--run-seconds", type=float, default=runtime.Settings.run_seconds,
                        metavar="SECONDS",
                        help="how long a Pod with restartPolicy Never/OnFailure runs before "
                             "it Succeeds (default %(default)s)")
    parser.add_argument("--pod-cidr", default=runtime.Settings.pod_cidr, metavar="CIDR",
                        help="each member's Pod range, a /24 per Node (default %(default)s)")
    parser.add_argument("--control-port", type=int, default=0, metavar="PORT",
                        help="port of the control server on 127.0.0.1 (default: a free one)")
    parser.set_defaults(func=_command)


def _settings(args: argparse.Namespace) -> Settings:
    if args.nodes < 0:
        raise cluster.BadMemberSpec(f"--nodes must be 0 or more, got {args.nodes}")
    if args.token is not None and (not args.token or any(c.isspace() for c in args.token)):
        raise errors.UsageError("--token must be non-empty and without spaces")
    for flag, value in (("--ready-delay", args.ready_delay),
                        ("--run-seconds", args.run_seconds)):
        if not value >= 0:
            raise errors.UsageError(f"{flag} must be 0 or more seconds, got {value}")
    try:
        network = ipaddress.ip_network(args.pod_cidr, strict=False)
    except ValueError:
        raise errors.UsageError(f"--pod-cidr {args.pod_cidr!r} is not a CIDR, "
                                "e.g. 10.244.0.0/16") from None
    if not 0 <= args.control_port <= 65535:
        raise errors.UsageError(f"--control-port must be 0-65535, got {args.control_port}")
    behaviour = runtime.Settings(args.ready_delay, args.run_seconds, str(network))
    specs = [dataclasses.replace(spec, behaviour=behaviour)
             for spec in cluster.parse_members(args.members, args.nodes)]
    return Settings(specs, args.kubeconfig, args.token, control_port=args.control_port)


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
    controls = control.ControlServer(members, settings.token)
    try:
        await cluster.wait_ready(members)
        await controls.start("127.0.0.1", settings.control_port)
        # no await from here to the prints: once the kubeconfig exists, they are out
        cluster.write_kubeconfig(members, settings.kubeconfig, settings.token)
        for member in members:
            print(f"member {member.name}: {member.url} (region {member.spec.region}, "
                  f"zone {member.spec.zone}, context {member.name})", flush=True)
        print(f"control: {controls.url}", flush=True)
        print(f"kubeconfig: {settings.kubeconfig}", flush=True)
        await stop.wait()
    finally:
        await controls.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await cluster.stop_members(members)
    return 0
