"""``fedns run`` as a user starts it: a port it cannot listen on is one line naming the
config field, exit 2, found before any member is contacted; never a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys

import pytest
import yaml

from tests.support import procs


def run(tmp_path, document: dict) -> subprocess.CompletedProcess:
    config = tmp_path / "fedns.yaml"
    config.write_text(yaml.safe_dump(document))
    return subprocess.run([sys.executable, "-m", "fedns.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "dns-workers"])
def test_a_taken_dns_port_is_one_line(etcd, tmp_path, workers):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run(tmp_path, {
            "federation": "f", "domain": "example.org", "store": etcd.url,
            "dns": {"listen": f"127.0.0.1:{port}", "workers": workers},
            "api": {"listen": f"127.0.0.1:{procs.free_port()}"}})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fedns: dns.listen: cannot listen on 127.0.0.1:{port} (UDP): Address already in use"]


def test_a_taken_port_is_found_before_any_member_is_contacted(tmp_path):
    # the member's kubeconfig names a server nothing answers: were it contacted first,
    # the error would be about the member (or the start would wait for it)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "m",
        "clusters": [{"name": "m", "cluster": {"server": f"http://127.0.0.1:{procs.free_port()}"}}],
        "users": [{"name": "m", "user": {}}],
        "contexts": [{"name": "m", "context": {"cluster": "m", "user": "m"}}]}))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, {
            "federation": "f", "domain": "example.org",
            "dns": {"listen": f"127.0.0.1:{procs.free_port()}"},
            "api": {"listen": f"127.0.0.1:{port}"},
            "members": [{"name": "m", "kubeconfig": str(kubeconfig), "region": "r",
                         "zone": "z"}]})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fedns: api.listen: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_a_taken_api_port_is_one_line(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(tmp_path, {
            "federation": "f", "domain": "example.org",
            "dns": {"listen": f"127.0.0.1:{procs.free_port()}"},
            "api": {"listen": f"127.0.0.1:{port}"}})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fedns: api.listen: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_a_member_kubeconfig_that_does_not_exist_names_the_field_and_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "umich.kubeconfig"
    result = run(tmp_path, {
        "federation": "f", "domain": "example.org",
        "dns": {"listen": "127.0.0.1:0"}, "api": {"listen": "127.0.0.1:0"},
        "members": [{"name": "umich", "kubeconfig": str(missing), "region": "r", "zone": "z"}]})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fedns: members[0].kubeconfig: member 'umich': kubeconfig '{missing}': no such file"]


def test_version_answers_without_importing_the_commands():
    probe = ("import sys\nfrom fedns import cli\ncli.main(['--version'])\n"
             "print(sorted(m for m in ('fedns.app', 'kubernetes', 'aiohttp') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.splitlines()[1] == "[]", result.stdout


def test_sigterm_to_the_process_group_stops_everything_quietly(etcd, tmp_path):
    # systemd and `timeout` signal the whole group: the DNS workers must not die first
    # and be restarted by their parent as if they had crashed
    config = tmp_path / "fedns.yaml"
    config.write_text(yaml.safe_dump({
        "federation": "f", "domain": "example.org", "store": etcd.url,
        "dns": {"listen": f"127.0.0.1:{procs.free_port()}", "workers": 2},
        "api": {"listen": f"127.0.0.1:{procs.free_port()}"}}))
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fedns.cli", "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        procs.wait_for(lambda: "DNS on" in log.read_text() or proc.poll() is not None, 60,
                       "fedns run started")
        assert proc.poll() is None, log.read_text()
        workers = [pid for pid in children(proc.pid)
                   if b"fedns.dnsserver.child" in read_bytes(f"/proc/{pid}/cmdline")]
        assert len(workers) == 2
        for pid in workers:  # the parent stops them; SIGTERM to the group must not
            assert ignored_signals(pid) & (1 << (signal.SIGTERM - 1)), pid
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert " ERROR " not in text and "exited with status" not in text, text


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def children(pid: int) -> list[int]:
    return [int(c) for c in read_bytes(f"/proc/{pid}/task/{pid}/children").split()]


def ignored_signals(pid: int) -> int:
    for line in read_bytes(f"/proc/{pid}/status").decode().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    return 0
