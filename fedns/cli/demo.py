"""``fedns demo [--smoke]``: the whole appliance embedded, with simulated members.

The scenario (members, pools, sample Services, the smoke checks) is
:mod:`fedns.demo`; this module parses the options and runs it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile

from fedns import app, errors
from fedns.cli.run import setup_logging, wait_for_signal
from fedns.demo import (
    MEMBERS,
    SERVICES,
    Smoke,
    create_service,
    federation_kubeconfig,
    print_try,
    settings_for,
)
from fedns.sim import cluster


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run everything embedded with simulated members")
    parser.add_argument("--smoke", action="store_true",
                        help="run the scripted scenario, print each check, exit 1 on failure")
    parser.add_argument("--dns-listen", default="127.0.0.1:5353", metavar="ADDR:PORT",
                        help="where the DNS server answers, UDP and TCP (default: %(default)s)")
    parser.add_argument("--api-listen", default="127.0.0.1:8080", metavar="ADDR:PORT",
                        help="where the API (kubectl, fedns status) answers "
                             "(default: %(default)s)")
    parser.add_argument("--kubeconfig", default="", metavar="PATH",
                        help="write the kubeconfig here (a context per member, and "
                             "'federation', the current one, for the appliance API); "
                             "default: a temporary file removed at exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the appliance does")
    parser.set_defaults(func=_demo)


# the config fields the demo's options set, as a user typed them
FLAGS = {"dns.listen": "--dns-listen", "api.listen": "--api-listen"}


async def _demo(args: argparse.Namespace) -> int:
    if args.verbose:
        setup_logging(True)
    workdir = tempfile.mkdtemp(prefix="fedns-demo-")
    try:
        return await _run(args, args.kubeconfig or os.path.join(workdir, "kubeconfig"))
    except errors.FednsError as err:
        text = str(err)
        for field, flag in FLAGS.items():
            text = text.replace(f"{field}: ", f"{flag}: ")
        if text == str(err):
            raise
        raise (errors.UsageError if isinstance(err, errors.UsageError)
               else errors.RefusedError)(text) from err
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _run(args: argparse.Namespace, kubeconfig: str) -> int:
    settings = settings_for(kubeconfig, args.dns_listen, args.api_listen)  # bad input: no start
    members = await cluster.start_members(cluster.parse_members(MEMBERS))
    try:
        await cluster.wait_ready(members)
        cluster.write_kubeconfig(members, kubeconfig)
        appliance = app.Appliance(settings, identity="demo", probe_interval=0.2, lease_ttl=5)
        await appliance.start()
        try:
            cluster.write_document(federation_kubeconfig(members, appliance.api_url),
                                   kubeconfig)
            if args.smoke:
                return await Smoke(appliance, members, kubeconfig).run()
            for service, where in SERVICES.items():
                for member, ready in where.items():
                    await asyncio.to_thread(create_service, kubeconfig, member, service, ready)
            print_try(appliance, kubeconfig)
            await wait_for_signal()
            return 0
        finally:
            await appliance.stop()
    finally:
        with contextlib.suppress(Exception):
            await cluster.stop_members(members)
