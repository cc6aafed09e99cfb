"""fedns/dnsserver/README.md: its sections, and its examples run for real.

``etcdctl put`` lines become writes to a memory Store, the ``fedns dns`` line is
parsed as the Syntax section describes it and started with ``daemon.running`` (on a
free port: the Store is the test's own), and every ``dig`` line runs the real dig,
its output compared with the lines below it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import pathlib
import re
import shlex

from fedns.cli import dns as dns_command
from fedns.dnsserver import daemon
from fedns.dnsserver import settings as settings_mod
from tests.dnsserver import helpers

README = pathlib.Path(__file__).resolve().parents[2] / "fedns" / "dnsserver" / "README.md"


def sections(text: str) -> list[str]:
    return re.findall(r"^## (\w+)", text, re.MULTILINE)


def shell_blocks(text: str) -> list[list[str]]:
    return [block.strip("\n").splitlines()
            for block in re.findall(r"^~~~ sh\n(.*?)^~~~", text, re.MULTILINE | re.DOTALL)]


def cli() -> argparse.ArgumentParser:
    """``fedns dns`` exactly as the command line defines it."""
    parser = argparse.ArgumentParser(prog="fedns dns")
    dns_command.add_arguments(parser)
    return parser


def test_readme_has_the_component_sections():
    text = README.read_text()
    assert sections(text) == ["Name", "Description", "Syntax", "Examples", "Metrics"]


def test_syntax_options_are_serve_parameters():
    options = {a.dest for a in cli()._actions if a.dest != "help"}
    # serve(**tuning) takes the other Settings fields
    params = set(inspect.signature(daemon.serve).parameters) | {
        f.name for f in dataclasses.fields(settings_mod.Settings)}
    renamed = {"store": "store_url", "site": "sites", "ns_name": "ns_names",
               "ns_address": "ns_addresses", "min_lease_ttl": "lease_min_ttl",
               "max_lease_ttl": "lease_max_ttl"}
    assert {renamed.get(o, o) for o in options} <= params
    assert set(re.findall(r"--[a-z-]+", README.read_text().split("## Syntax")[1]
                          .split("## Examples")[0])) == {f"--{o.replace('_', '-')}" for o in options}


def test_metrics_listed_are_the_servers():
    from fedns.dnsserver import server, settings, zone

    listed = set(re.findall(r"^\* `(fedns_dns_\w+)", README.read_text(), re.MULTILINE))
    srv = server.Server(zone.Zone(), settings.Settings(zones=("example.com",)))
    srv.rcodes[0] = 1
    produced = {name.split("{")[0] for name in srv.metrics()}
    assert listed == produced


async def test_examples_run():
    blocks = shell_blocks(README.read_text())
    assert blocks, "no examples"
    lines = [line for block in blocks for line in block]
    async with helpers.memory_store() as store:
        args = None
        for line in lines:
            if line.startswith("% etcdctl put "):
                _, _, key, value = shlex.split(line[2:])
                await store.put(key.encode(), value.encode())
            elif line.startswith("% fedns dns "):
                args = cli().parse_args(shlex.split(line[2:])[2:])
        assert args is not None
        config = daemon.settings_for(args.zone, prefix=args.prefix, sites=args.site,
                                     ns_names=args.ns_name, ns_addresses=args.ns_address)
        host, _ = daemon.parse_listen(args.listen)
        async with daemon.running(store, config, f"{host}:0") as handle:
            checked = 0
            for i, line in enumerate(lines):
                if not line.startswith("% dig "):
                    continue
                expected = []
                for following in lines[i + 1:]:
                    if following.startswith("% "):
                        break
                    expected.append(following)
                argv = shlex.split(line[2:])
                argv[argv.index("-p") + 1] = str(handle.address[1])
                proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
                out, _ = await proc.communicate()
                assert sorted(out.decode().splitlines()) == sorted(expected), line
                checked += 1
    assert checked >= 5
