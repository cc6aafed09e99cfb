"""``fedns run`` as a user starts it: a port it cannot listen on is one line naming the
config field, exit 2, found before any member is contacted; never a traceback."""

from __future__ import annotations

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
