"""corefile/README.md cannot rot: its sections, its Syntax, and every example run or checked.

A fence ``~~~ LANG FILE`` is written to FILE in a scratch directory first; every
``~~~ corefile`` block must pass ``corefile check``; every ``% fedns ...`` line of a
``~~~ sh`` block runs (``> FILE`` sends its output to FILE) and must print exactly the
lines below it, exiting 0, or 1 for a ``check`` that reports problems.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
import shlex

import pytest

from corefile import check, render
from fedns.cli import corefile as corefile_command
from tests.corefile.helpers import fedns

README = pathlib.Path(__file__).resolve().parents[2] / "corefile" / "README.md"
TEXT = README.read_text()
FENCES = re.findall(r"^~~~ (\w+)(?: (\S+))?\n(.*?)^~~~$", TEXT, re.MULTILINE | re.DOTALL)


def test_readme_has_the_plugin_readme_sections():
    assert re.findall(r"^## (\w+)", TEXT, re.MULTILINE) == [
        "Name", "Description", "Syntax", "Examples"]
    assert TEXT.startswith("# corefile\n")


def test_syntax_lists_every_option_of_the_commands():
    parser = argparse.ArgumentParser()
    corefile_command.register(parser.add_subparsers())
    subcommands = parser._subparsers._group_actions[0].choices["corefile"]  # type: ignore[union-attr]
    options = set()
    for command in subcommands._subparsers._group_actions[0].choices.values():
        options |= {o for a in command._actions for o in a.option_strings if o.startswith("--")}
    options.discard("--help")
    syntax = TEXT.split("## Syntax")[1].split("## Examples")[0]
    assert set(re.findall(r"--[a-z-]+", syntax)) == options


def test_python_api_names_are_real():
    fields = {f.name for f in dataclasses.fields(render.Zone)}
    assert {"domain", "endpoints", "ttl", "port", "path", "tls", "credentials",
            "fallthrough"} <= fields
    assert {"domain", "addresses", "ttl", "port"} <= {f.name for f in dataclasses.fields(render.Stub)}
    assert callable(corefile_command.zone_settings) and callable(corefile_command.stub_settings)


CORE = [body for lang, _, body in FENCES if lang == "corefile"]


@pytest.mark.parametrize("text", CORE, ids=[f"corefile-{i}" for i in range(len(CORE))])
def test_corefile_examples_pass_check(text):
    assert check.check(text) == []


def commands() -> list[tuple[str, list[str]]]:
    lines = [line for lang, _, body in FENCES if lang == "sh" for line in body.splitlines()]
    found = []
    for i, line in enumerate(lines):
        if line.startswith("% "):
            output = []
            for following in lines[i + 1:]:
                if following.startswith("% "):
                    break
                output.append(following)
            found.append((line[2:], output))
    return found


def test_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for lang, name, body in FENCES:
        if name:
            (tmp_path / name).write_text(body)
    ran = 0
    for command, expected in commands():
        argv = shlex.split(command)
        assert argv[0] == "fedns", f"only fedns commands may appear in examples: {command}"
        target = None
        if ">" in argv:
            argv, target = argv[:argv.index(">")], argv[argv.index(">") + 1]
        result = fedns(argv[1:])
        assert result.err == "", command
        if target:
            (tmp_path / target).write_text(result.out)
            assert expected == [], command
            out_lines: list[str] = []
        else:
            out_lines = result.out.splitlines()
        assert out_lines == expected, command
        problems = argv[1:3] == ["corefile", "check"] and out_lines != ["ok"]
        assert result.code == (1 if problems else 0), command
        ran += 1
        if argv[1:3] == ["corefile", "render"] and target is None:
            domain = "example.com"
            assert check.check(result.out, domain) == [], command
    assert ran >= 5
