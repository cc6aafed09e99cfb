"""``fedns dns``: serve any SkyDNS-format zone held in a Store, standalone.

Records written by fedns, external-dns or by hand (``etcdctl put``) are all served;
see fedns/dnsserver/README.md.
"""

from __future__ import annotations

import argparse
import asyncio

from fedns.cli.run import wait_for_signal
from fedns.cli.store import add_store_option, shared_url
from fedns.dnsserver import daemon


def _site(text: str) -> object:
    try:
        return daemon.parse_site(text)
    except Exception as err:  # argparse turns ValueError into a one-line usage error
        raise argparse.ArgumentTypeError(str(err)) from err


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


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dns", help="serve a SkyDNS-format zone from a Store")
    add_arguments(parser)
    parser.set_defaults(func=_dns)


async def _dns(args: argparse.Namespace) -> int:
    shared_url(args.store)  # a memory:// zone would be empty: nothing would ever answer

    def started(address: tuple[str, int]) -> None:
        print(f"fedns dns: serving {', '.join(args.zone)} on {address[0]}:{address[1]} "
              f"(udp+tcp) from {args.store}", flush=True)

    serving = asyncio.create_task(daemon.serve(
        args.store, args.zone, args.listen, prefix=args.prefix, sites=args.site,
        ns_names=args.ns_name, ns_addresses=args.ns_address, started=started))
    stop = asyncio.create_task(wait_for_signal())
    done, _ = await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    for task in (serving, stop):
        task.cancel()
    if serving in done:
        serving.result()  # raises the serve() error as one line
    return 0
