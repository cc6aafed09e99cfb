"""``fedns run --config FILE``: the appliance as the config says, until SIGINT/SIGTERM.

Config errors are printed one line per wrong field before anything starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

from fedns import app, config, gctune


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the controller, DNS server and API from a config file")
    parser.add_argument("--config", required=True, metavar="FILE", help="the YAML config file")
    parser.add_argument("--identity", default="", help="this replica's name in leader election "
                        "(default: host name and pid)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.set_defaults(func=_run)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiohttp.access", "urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def stop_signals() -> Iterator[asyncio.Event]:
    """An event SIGINT and SIGTERM set, from now on: enter it before saying "ready",
    so a signal sent as soon as the line appears stops the process cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def wait_for_signal() -> None:
    with stop_signals() as stop:
        await stop.wait()


async def _run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)  # every problem, before anything starts
    setup_logging(args.verbose)
    appliance = app.Appliance(settings, identity=args.identity)
    with stop_signals() as stop:
        await appliance.start()
        gctune.tune()
        try:
            dns_host, dns_port = appliance.dns_address
            print(f"fedns {appliance.identity}: DNS on {dns_host}:{dns_port} (udp+tcp), "
                  f"API on {appliance.api_url}, store {settings.store}", flush=True)
            await stop.wait()
        finally:
            await appliance.stop()
    return 0
