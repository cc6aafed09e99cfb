"""Real helper processes for tests: free loopback ports, polling with a deadline, etcd.

Every process is started here and stopped by its own pid; nothing waits a fixed time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (UDP too, for DNS tests)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", port))
        except OSError:
            continue
        return int(port)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``check`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - polling: remember and retry
            last_error = err
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s (last error: {last_error})")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Stop ``proc`` by its own pid; SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


class EtcdMember:
    """One etcd process on loopback with its own temp data dir."""

    def __init__(self, name: str, client_port: int, peer_port: int, data_dir: str) -> None:
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(data_dir, f"{name}.log")

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def start(self, initial_cluster: str, state: str = "new") -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                ETCD, "--name", self.name,
                "--data-dir", os.path.join(self.data_dir, self.name),
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", initial_cluster,
                "--initial-cluster-state", state,
                "--initial-cluster-token", f"fedns-test-{os.getpid()}",
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--log-level", "warn",
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"etcd {self.name} exited: see {self.log_path}")
        with urllib.request.urlopen(self.client_url + "/health", timeout=1) as resp:
            return bool(json.load(resp).get("health") == "true")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig)


class EtcdCluster:
    """``size`` etcd members forming one cluster on loopback."""

    def __init__(self, size: int = 1) -> None:
        self.tmp = tempfile.mkdtemp(prefix="fedns-etcd-")
        self.members = [
            EtcdMember(f"m{i}", free_port(), free_port(), self.tmp) for i in range(size)
        ]
        self.initial_cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def url(self) -> str:
        return "etcd://" + ",".join(m.endpoint for m in self.members)

    def start(self, timeout: float = 30) -> EtcdCluster:
        for member in self.members:
            member.start(self.initial_cluster)
        for member in self.members:
            wait_for(member.healthy, timeout, f"etcd {member.name} healthy")
        return self

    def restart(self, member: EtcdMember, timeout: float = 30) -> None:
        member.start(self.initial_cluster, state="existing")
        wait_for(member.healthy, timeout, f"etcd {member.name} healthy again")

    def stop(self) -> None:
        for member in self.members:
            member.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
