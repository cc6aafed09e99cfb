"""The ``fedns`` command line: parse options into settings, call the application.

Every command lives in this package, one module per command (``fedns.cli.pool`` is
``fedns pool`` and ``fedns ip``), each exposing ``register(subparsers)``; the
parser calls the function the command set with ``set_defaults(func=...)``.  A
command function returns the exit code: 0 success, 1 refused, 2 usage or input
error.  A :class:`fedns.errors.FednsError` becomes one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence

import fedns
from fedns import errors

# Modules that add commands; only commands that work are listed here.
COMMAND_MODULES = [
    "fedns.cli.store",
    "fedns.cli.sim",
    "fedns.cli.run",
    "fedns.cli.dns",
    "fedns.cli.demo",
    "fedns.cli.status",
    "fedns.cli.pool",
    "fedns.cli.corefile",
    "fedns.cli.member",
    "fedns.cli.completion",
]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fedns",
        description="Federation service discovery and IP management for Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"fedns {fedns.__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def exit_code(err: errors.FednsError) -> int:
    if isinstance(err, errors.UsageError):
        return EXIT_USAGE
    if isinstance(err, errors.RefusedError):
        return EXIT_REFUSED
    return EXIT_USAGE if isinstance(err, errors.TemporaryError) else EXIT_REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["--version"]:  # without importing every command (about a second)
        print(f"fedns {fedns.__version__}")
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        result = func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except errors.FednsError as err:
        print(f"fedns: {err}", file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt:
        return 130

