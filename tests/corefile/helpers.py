"""Run ``fedns`` commands in-process through :func:`fedns.cli.main`, with this issue's
command modules registered whether or not ``fedns/cli.py`` lists them yet."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
from unittest import mock

from fedns import cli

MODULES = ["fedns.cli.corefile", "fedns.cli.member"]


@dataclasses.dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def fedns(argv: list[str], stdin: str | bytes = "") -> Result:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    fake_stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    modules = list(dict.fromkeys(cli.COMMAND_MODULES + MODULES))
    with mock.patch.object(cli, "COMMAND_MODULES", modules), \
            mock.patch.object(sys, "stdin", fake_stdin), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse: usage errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 2
    return Result(code, out.getvalue(), err.getvalue())
