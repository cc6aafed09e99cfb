"""docs/operating.md cannot rot: its commands parse, its files exist, its examples load.

- every ``fedns ...`` command of a shell block (``% `` lines, pipelines and
  redirections cut off) parses with the real ``fedns.cli`` parser; ``fedns X`` in the
  prose names a real command;
- every repository path it names (``deploy/...``, ``corefile/README.md``, links) exists;
- its ``yaml config.yaml`` block is a valid config and its ``yaml pools.yaml`` block a
  valid pool file;
- every alert of ``deploy/dashboards/alerts.yaml`` has its own section, and no section
  describes an alert that does not exist.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import pathlib
import re
import shlex

import pytest
import yaml

from fedns import cli, config
from ipam import pool
from tests.docs.test_dashboard import ALERTS

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operating.md"
TOP_DIRS = ("deploy", "docs", "corefile", "fedns", "ipam", "placement", "propagate", "tests",
            "bench")
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>~~~|```) *(?P<info>[^\n]*)$")
_PATH = re.compile(r"(?<![\w/.$-])((?:" + "|".join(TOP_DIRS) + r")/[\w./-]*[\w/]|README\.md)")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_CONTROL = {"|", "||", "&&", ";", "&"}
_REDIRECT = {">", ">>", "<", "<<", ">&", "<&"}


def text() -> str:
    return DOC.read_text()


def blocks() -> list[tuple[str, str, int]]:
    """(info string, body, line number) of every fenced block, indented ones too."""
    out, lines = [], text().splitlines()
    i = 0
    while i < len(lines):
        start = _FENCE.match(lines[i])
        if not start:
            i += 1
            continue
        indent, fence = len(start["indent"]), start["fence"]
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:])
            j += 1
        assert j < len(lines), f"operating.md:{i + 1}: block never closed"
        out.append((start["info"].strip(), "\n".join(body), i + 1))
        i = j + 1
    return out


def shell_commands() -> list[tuple[int, list[str]]]:
    """(line, argv) of every simple command in the ``% `` lines of shell blocks."""
    out = []
    for info, body, line in blocks():
        if info.split()[:1] != ["sh"]:
            continue
        for offset, row in enumerate(body.splitlines(), 1):
            if not row.startswith("% "):
                continue
            lexer = shlex.shlex(row[2:], posix=True, punctuation_chars="|&;<>")
            lexer.whitespace_split = True
            argv: list[str] = []
            tokens = list(lexer)
            k = 0
            while k < len(tokens):
                token = tokens[k]
                if token in _CONTROL:
                    out.append((line + offset, argv))
                    argv = []
                elif token in _REDIRECT:
                    k += 1  # and its target
                else:
                    argv.append(token)
                k += 1
            out.append((line + offset, argv))
    return [(n, argv) for n, argv in out if argv]


def fedns_commands() -> list[tuple[int, list[str]]]:
    return [(n, argv) for n, argv in shell_commands() if argv[0] == "fedns"]


def test_the_doc_has_the_sections_the_issue_asks_for():
    headings = re.findall(r"^## (.+)$", text(), re.MULTILINE)
    for wanted in ("Install", "Join a member", "Define pools", "Point DNS at the zone",
                   "Upgrade", "Back up etcd", "What each alert means"):
        assert wanted in headings


def test_there_are_commands_to_check():
    assert len(fedns_commands()) >= 15
    assert {"pool", "ip", "corefile", "member", "dns", "status", "demo", "store"} <= \
        {argv[1] for _, argv in fedns_commands()}


def parse(argv: list[str]) -> tuple[int, str]:
    """Exit code of parsing ``argv`` (0 when it parses) and what argparse printed."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            cli.build_parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0), err.getvalue()
    return 0, ""


@pytest.mark.parametrize("line, argv", fedns_commands(),
                         ids=[f"line{n}" for n, _ in fedns_commands()])
def test_every_fedns_command_parses(line, argv):
    code, message = parse(argv[1:])
    assert code == 0, f"operating.md:{line}: {shlex.join(argv)}\n{message}"


def test_the_parse_check_catches_a_wrong_command():
    assert parse(["pool", "apply", "--flie", "pools.yaml"])[0] == 2
    assert parse(["pool", "drian", "x"])[0] == 2
    assert parse(["corefile", "render", "--help"])[0] == 0


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_named_in_the_prose_exists():
    spans = re.findall(r"`(fedns [^`]*)`", text())
    assert spans
    for span in spans:
        words = span.split()[1:]
        parser = cli.build_parser()
        path = []
        while words and (children := _subcommands(parser)) and words[0] in children:
            parser = children[words.pop(0)]
            path.append(parser)
        assert path and not _subcommands(parser), f"`{span}` is not a fedns command"
        options = {o for a in parser._actions for o in a.option_strings}
        for word in words:
            if word.startswith("-"):
                assert word in options, f"`{span}`: {parser.prog} has no {word}"


def test_every_repository_path_exists():
    named = set(_PATH.findall(text()))
    assert {"deploy/overlays/ha", "deploy/member", "deploy/dashboards/fedns.json",
            "deploy/dashboards/alerts.yaml"} <= named
    missing = sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"operating.md names paths that do not exist: {missing}"


def test_every_relative_link_resolves():
    for target in _LINK.findall(text()):
        if "://" not in target:
            assert (DOC.parent / target).exists(), target


def _block(name: str) -> str:
    found = [body for info, body, _ in blocks() if info.split()[1:2] == [name]]
    assert len(found) == 1, f"one `yaml {name}` block expected, found {len(found)}"
    return found[0]


def test_config_example_is_a_valid_config():
    settings = config.parse(yaml.safe_load(_block("config.yaml")), "operating.md")
    assert settings.store.startswith("etcd://")
    sites = {m.site_name for m in settings.members}
    assert set(settings.dns.sites) <= sites
    assert {p.site for p in settings.pools} <= sites


def test_pool_file_example_is_a_valid_pool_file():
    pools = pool.from_dicts(yaml.safe_load(_block("pools.yaml")))
    assert len(pools) == 3


def test_every_alert_is_explained_once():
    rules = yaml.safe_load(ALERTS.read_text())["spec"]["groups"]
    alerts = {r["alert"] for g in rules for r in g["rules"]}
    explained = re.findall(r"^### (Fedns\w+)$", text(), re.MULTILINE)
    assert len(explained) == len(set(explained))
    assert set(explained) == alerts
