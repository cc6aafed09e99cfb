"""The two kapi servers a hostile client can reach, started as users start them: a
``fedns sim`` member and the API of ``fedns run`` (memory:// store, token set), both on
loopback, shared by the whole suite and stopped by their own pids."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest
import yaml

from tests.support import procs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "hostile-token"


@dataclasses.dataclass
class Target:
    """A running kapi server: where it listens, its process, what a write needs."""

    name: str
    port: int
    proc: subprocess.Popen
    headers: dict[str, str]  # sent with every request (the token, for the appliance)
    log: str

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = "application/json",
                headers: dict[str, str] | None = None,
                timeout: float = 30) -> tuple[int, bytes]:
        """One request on a connection of its own: (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = {**self.headers, **(headers or {})}
            if content_type is not None and body is not None:
                sent["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, obj: object = None,
             content_type: str = "application/json") -> tuple[int, dict]:
        data = None if obj is None else json.dumps(obj).encode()
        code, raw = self.request(method, path, data, content_type)
        return code, json.loads(raw) if raw.startswith(b"{") else {"raw": raw.decode()}

    def rss_mb(self) -> float:
        """The server's resident memory (VmRSS), in MiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"{self.name} has no VmRSS: exited?")

    def alive(self) -> bool:
        return self.proc.poll() is None and self.request("GET", "/healthz")[0] == 200

    def output(self) -> str:
        with open(self.log) as f:
            return f.read()[-4000:]

    def kinds(self) -> list[dict]:
        """Every resource the server lists in discovery (no subresources), with its
        collection path."""
        found = []
        groups = [("/api/v1", "v1")]
        for group in self.json("GET", "/apis")[1]["groups"]:
            version = group["preferredVersion"]["groupVersion"]
            groups.append((f"/apis/{version}", version))
        for prefix, api_version in groups:
            for resource in self.json("GET", prefix)[1]["resources"]:
                if "/" in resource["name"] or "create" not in resource["verbs"]:
                    continue
                namespace = "/namespaces/default" if resource["namespaced"] else ""
                found.append({"kind": resource["kind"], "apiVersion": api_version,
                              "plural": resource["name"], "verbs": resource["verbs"],
                              "collection": f"{prefix}{namespace}/{resource['name']}"})
        return found


def _start(name: str, command: list[str], workdir: str, ready_path: str, port: int,
           headers: dict[str, str]) -> Target:
    log = os.path.join(workdir, f"{name}.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT)
    target = Target(name, port, proc, headers, log)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {target.output()}")
        return target.request("GET", ready_path)[0] == 200
    try:
        procs.wait_for(up, 60, f"{name} serving")
    except BaseException:
        procs.stop_process(proc)
        raise
    return target


def _sim(workdir: str) -> Target:
    kubeconfig = os.path.join(workdir, "kubeconfig")
    command = [sys.executable, "-m", "fedns.cli", "sim", "--members", "alpha",
               "--kubeconfig", kubeconfig]
    log = os.path.join(workdir, "sim-start.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT)

    def written() -> bool:
        if proc.poll() is not None:
            with open(log) as f:
                raise RuntimeError(f"fedns sim exited: {f.read()}")
        return os.path.exists(kubeconfig)
    try:
        procs.wait_for(written, 60, "fedns sim kubeconfig")
    except BaseException:
        procs.stop_process(proc)
        raise
    with open(kubeconfig) as f:
        server = yaml.safe_load(f)["clusters"][0]["cluster"]["server"]
    return Target("sim", int(server.rsplit(":", 1)[1]), proc, {}, log)


def _appliance(workdir: str) -> Target:
    port = procs.free_port()
    config = os.path.join(workdir, "fedns.yaml")
    with open(config, "w") as f:
        yaml.safe_dump({"federation": "hostile", "domain": "example.org",
                        "store": "memory://",
                        "dns": {"listen": f"127.0.0.1:{procs.free_port()}"},
                        "api": {"listen": f"127.0.0.1:{port}", "token": TOKEN},
                        "pools": [{"name": "p4", "site": "s",
                                   "addresses": ["192.0.2.0/24"]}]}, f)
    return _start("appliance", [sys.executable, "-m", "fedns.cli", "run", "--config", config],
                  workdir, "/readyz", port, {"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="session")
def sim_member() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="fedns-hostile-") as workdir:
        target = _sim(workdir)
        try:
            yield target
        finally:
            procs.stop_process(target.proc)


@pytest.fixture(scope="session")
def appliance() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="fedns-hostile-") as workdir:
        target = _appliance(workdir)
        try:
            yield target
        finally:
            procs.stop_process(target.proc)


@pytest.fixture(params=["sim", "appliance"])
def target(request: pytest.FixtureRequest) -> Target:
    """Each test runs against a sim member and against the appliance API."""
    found: Target = request.getfixturevalue("sim_member" if request.param == "sim"
                                            else "appliance")
    return found
