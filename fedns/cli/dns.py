"""``fedns dns``: serve any SkyDNS-format zone held in a Store, standalone.

Records written by fedns, external-dns or by hand (``etcdctl put``) are all served;
see fedns/dnsserver/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from fedns import errors
from fedns.cli.run import wait_for_signal
from fedns.cli.store import add_store_option, shared_url
from fedns.dnsserver import daemon
from fedns.dnsserver import settings as settings_mod


def _site(text: str) -> object:
    try:
        return daemon.parse_site(text)
    except Exception as err:  # argparse turns ValueError into a one-line usage error
        raise argparse.ArgumentTypeError(str(err)) from err


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument("--zone", action="append", required=True, metavar="DOMAIN",
                        help="a zone to serve (repeatable)")
    parser.add_argument("--listen", default=daemon.DEFAULT_LISTEN, metavar="ADDR:PORT",
                        help="UDP and TCP address (default %(default)s)")
    parser.add_argument("--prefix", default="/skydns", help="key prefix (default %(default)s)")
    parser.add_argument("--site", action="append", default=[], type=_site,
                        metavar="NAME:REGION:ZONE=CIDR[,CIDR]",
                        help="clients in CIDR get the nearest tier of REGION/ZONE (repeatable)")
    parser.add_argument("--ns-name", action="append", default=[], metavar="NAME",
                        help="apex NS name when the Store has none (repeatable)")
    parser.add_argument("--ns-address", action="append", default=[], metavar="IP",
                        help="address of the NS names (repeatable)")
    d = settings_mod.Settings
    parser.add_argument("--min-lease-ttl", type=_positive(int), default=d.lease_min_ttl,
                        metavar="SECONDS", help="a record on a Store lease answers with the "
                        "lease's time left, at least this (default %(default)s, as CoreDNS)")
    parser.add_argument("--max-lease-ttl", type=_positive(int), default=d.lease_max_ttl,
                        metavar="SECONDS", help="... and at most this (default %(default)s)")
    parser.add_argument("--tcp-connections", type=_positive(int), default=d.tcp_connections,
                        metavar="N", help="TCP connections at once (default %(default)s)")
    parser.add_argument("--tcp-per-client", type=_positive(int), default=d.tcp_per_client,
                        metavar="N", help="TCP connections of one client (an IPv4 address, an "
                        "IPv6 /64) at once (default %(default)s)")
    parser.add_argument("--tcp-idle-timeout", type=_positive(float),
                        default=d.tcp_idle_timeout, metavar="SECONDS",
                        help="how long a TCP connection may wait for its next query "
                        "(default %(default)s; shorter while half the slots are taken)")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dns", help="serve a SkyDNS-format zone from a Store")
    add_arguments(parser)
    parser.set_defaults(func=_dns)


async def _dns(args: argparse.Namespace) -> int:
    shared_url(args.store)  # a memory:// zone would be empty: nothing would ever answer
    if args.min_lease_ttl > args.max_lease_ttl:
        raise errors.UsageError(f"--min-lease-ttl {args.min_lease_ttl} is above "
                                f"--max-lease-ttl {args.max_lease_ttl}")
    if args.tcp_per_client > args.tcp_connections:
        raise errors.UsageError(f"--tcp-per-client {args.tcp_per_client} is above "
                                f"--tcp-connections {args.tcp_connections}")
    busy = min(args.tcp_idle_timeout, settings_mod.Settings.tcp_busy_idle_timeout)

    def started(address: tuple[str, int]) -> None:
        print(f"fedns dns: serving {', '.join(args.zone)} on {address[0]}:{address[1]} "
              f"(udp+tcp) from {args.store}", flush=True)

    serving = asyncio.create_task(daemon.serve(
        args.store, args.zone, args.listen, prefix=args.prefix, sites=args.site,
        ns_names=args.ns_name, ns_addresses=args.ns_address, started=started,
        lease_min_ttl=args.min_lease_ttl, lease_max_ttl=args.max_lease_ttl,
        tcp_connections=args.tcp_connections, tcp_per_client=args.tcp_per_client,
        tcp_idle_timeout=args.tcp_idle_timeout, tcp_busy_idle_timeout=busy))
    stop = asyncio.create_task(wait_for_signal())
    done, _ = await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    for task in (serving, stop):
        task.cancel()
    if serving in done:
        serving.result()  # raises the serve() error as one line
    return 0
