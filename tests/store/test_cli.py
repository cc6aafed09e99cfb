"""``fedns store ls|get`` as a user runs it: a real process against a real etcd."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import procs


def fedns(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedns.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_ls_lists_keys_written_with_etcdctl(etcd):
    endpoint = etcd.members[0].endpoint
    env = {"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}
    for key, value in [("/skydns/org/example/a", '{"host":"192.0.2.1","ttl":30}'),
                       ("/skydns/org/example/b", "plain text"), ("/other/x", "y")]:
        subprocess.run(["etcdctl", "--endpoints", endpoint, "put", key, value],
                       check=True, env=env, capture_output=True, timeout=30)
    ls = fedns("store", "ls", "/skydns/", "--store", etcd.url)
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.splitlines() == ["/skydns/org/example/a", "/skydns/org/example/b"]
    get = fedns("store", "get", "/skydns/org/example/a", "--store", etcd.url)
    assert (get.returncode, get.stdout) == (0, '{"host":"192.0.2.1","ttl":30}\n')
    long = fedns("store", "ls", "/", "-l", "--store", etcd.url)
    assert "/other/x\trev=" in long.stdout and "\ty\n" in long.stdout
    missing = fedns("store", "get", "/nope", "--store", etcd.url)
    assert missing.returncode == 1 and missing.stderr.startswith("fedns: key '/nope' not found")


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["store", "ls", "/", "--store", "etcd://"], 2, "no endpoint after etcd://"),
        (["store", "ls", "/", "--store", "etcd://host-without-port"], 2, "is not host:port"),
        (["store", "ls", "/", "--store", "redis://x:1"], 2, "expected memory:// or etcd://"),
        (["store", "frobnicate"], 2, "invalid choice"),
        # a store no other process can see: refused, never an empty answer
        (["store", "ls", "/"], 2, "no store named: give the appliance's store with --store"),
        (["pool", "list"], 2, "no store named"),
        (["pool", "apply", "-f", "-", "--store", "memory://"], 2,
         "a memory:// store belongs to the one process that opens it"),
        (["ip", "list", "--store", "memory://"], 2, "memory://"),
        (["dns", "--zone", "example.org", "--listen", "127.0.0.1:0"], 2, "no store named"),
    ],
    ids=["no-endpoint", "no-port", "bad-scheme", "bad-command", "ls-no-store",
         "pool-no-store", "pool-apply-memory", "ip-memory", "dns-no-store"],
)
def test_bad_input_is_one_line(args, code, message, monkeypatch):
    monkeypatch.delenv("FEDNS_STORE", raising=False)
    result = fedns(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3  # argparse adds its usage line


def test_unreachable_etcd_is_one_line_and_exit_2():
    port = procs.free_port()  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "fedns.cli", "store", "ls", "/", "--store", f"etcd://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "FEDNS_CONNECT_TIMEOUT": "1"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fedns: etcd at 127.0.0.1:{port} is unreachable (no answer within 1s)"]


def test_run_honours_the_connect_timeout_and_rejects_a_bad_one(tmp_path):
    port = procs.free_port()
    config = tmp_path / "c.yaml"
    config.write_text(f"federation: f\ndomain: example.org\nstore: etcd://127.0.0.1:{port}\n")
    env = {"PATH": "/usr/bin:/bin", "FEDNS_CONNECT_TIMEOUT": "1"}
    result = subprocess.run([sys.executable, "-m", "fedns.cli", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"fedns: etcd at 127.0.0.1:{port} is unreachable (no answer within 1s)")
    bad = fedns_env("store", "ls", "/", "--store", f"etcd://127.0.0.1:{port}",
                    env={**env, "FEDNS_CONNECT_TIMEOUT": "soon"})
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "fedns: FEDNS_CONNECT_TIMEOUT='soon' is not a positive number of seconds")


def fedns_env(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedns.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)
