"""Real processes for end-to-end tests: ``fedns sim``, ``fedns run`` replicas, kubectl, dig.

Everything runs on loopback, is started here and stopped by its own pid; waiting is
polling with a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from typing import Any

import yaml

from tests.support import procs

FEDERATION, DOMAIN = "fed", "example.org"
MEMBERS = "umich:us-east:us-east-1,uva:us-east:us-east-2,ucsd:us-west:us-west-1"
POOLS = [
    {"name": "umich-v4", "site": "umich", "addresses": ["192.0.2.0/25"]},
    {"name": "uva-v4", "site": "uva", "addresses": ["192.0.2.128/25"]},
    {"name": "ucsd-v4", "site": "ucsd", "addresses": ["198.51.100.0/24"]},
]


def kubectl_binary() -> str:
    scripts = sysconfig.get_path("scripts")
    for candidate in (os.path.join(scripts, "kubectl"), shutil.which("kubectl")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError("kubectl is not installed: run the README's test command")


def fedns_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "fedns.cli", *args]


class Sim:
    """``fedns sim`` members in their own process."""

    def __init__(self, workdir: str, members: str = MEMBERS) -> None:
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.log = open(os.path.join(workdir, "sim.log"), "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            fedns_cmd("sim", "--members", members, "--kubeconfig", self.kubeconfig),
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.wait_for(lambda: os.path.exists(self.kubeconfig) or self._alive(), 30,
                       "sim kubeconfig")

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise RuntimeError(f"fedns sim exited: {self.log.read()}")
        return False

    def kubectl(self, context: str, *args: str, stdin: str | None = None,
                check: bool = True) -> str:
        result = subprocess.run(
            [kubectl_binary(), "--kubeconfig", self.kubeconfig, "--context", context, *args],
            input=stdin, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        procs.stop_process(self.proc)
        self.log.close()


class Replica:
    """One ``fedns run`` process with its own DNS and API ports."""

    def __init__(self, workdir: str, name: str, store: str, kubeconfig: str,
                 members: str = MEMBERS, extra: dict[str, Any] | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) for an HTTPS API; the certificate is
        self-signed and also what the tests trust."""
        self.name = name
        self.dns_port, self.api_port = procs.free_port(), procs.free_port()
        self.ca = tls[0] if tls else ""
        self.api_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.api_port}"
        self.config_path = os.path.join(workdir, f"{name}.yaml")
        document = {
            "federation": FEDERATION, "domain": DOMAIN, "store": store,
            "dns": {"listen": f"127.0.0.1:{self.dns_port}", "ttl": 30},
            "api": {"listen": f"127.0.0.1:{self.api_port}", "token": "s3cret",
                    **({"certFile": tls[0], "keyFile": tls[1]} if tls else {})},
            "members": [{"name": m.split(":")[0], "kubeconfig": kubeconfig,
                         "context": m.split(":")[0]} for m in members.split(",")],
            "pools": POOLS,
        }
        document.update(extra or {})
        with open(self.config_path, "w") as f:
            yaml.safe_dump(document, f)
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Replica:
        log = open(self.log_path, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            fedns_cmd("run", "--config", self.config_path, "--identity", self.name),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        # an exit ends the wait at once (ready() raising would only be retried)
        procs.wait_for(lambda: self.proc.poll() is not None or self.ready(), 60,
                       f"{self.name} /readyz")
        self.ready()  # raises with the log if it exited
        return self

    def _get(self, path: str) -> tuple[int, str]:
        try:
            context = ssl.create_default_context(cafile=self.ca) if self.ca else None
            with urllib.request.urlopen(self.api_url + path, timeout=2, context=context) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {open(self.log_path).read()[-3000:]}")
        return self._get("/readyz")[0] == 200

    def metric(self, name: str) -> float:
        for line in self._get("/metrics")[1].splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def leading(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and \
            self.metric("fedns_leader") == 1.0

    def dig(self, name: str, qtype: str = "A", *extra: str) -> list[str]:
        """``dig +short``-like answers: 'TYPE value' per answer record."""
        out = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(self.dns_port), "+noall", "+answer", "+tries=1",
             "+time=2", *extra, name, qtype], capture_output=True, text=True, timeout=30).stdout
        answers = []
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 5:
                answers.append(f"{fields[3]} {' '.join(fields[4:])}")
        return sorted(answers)

    def rcode(self, name: str, qtype: str = "A") -> str:
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.dns_port), "+tries=1",
                              "+time=2", name, qtype], capture_output=True, text=True,
                             timeout=30).stdout
        for line in out.splitlines():
            if "status:" in line:
                return line.split("status:")[1].split(",")[0].strip()
        return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            procs.stop_process(self.proc, sig)


def api_certificate(workdir: str) -> tuple[str, str]:
    """A throwaway certificate and key for an HTTPS API (kubectl and Helm send their
    token only over HTTPS): (certificate file, key file); the certificate is also the
    one to trust."""
    from fedns.sim import tls

    cert = tls.self_signed("fedns-api")
    cert_file, key_file = os.path.join(workdir, "api.crt"), os.path.join(workdir, "api.key")
    with open(cert_file, "wb") as f:
        f.write(cert.cert_pem)
    with open(key_file, "wb") as f:
        f.write(cert.key_pem)
    return cert_file, key_file


def endpoint_kubeconfig(path: str, url: str, ca: str, token: str = "s3cret") -> str:
    """A kubeconfig whose one context, ``federation``, is the appliance API at ``url``."""
    with open(path, "w") as f:
        yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "federation",
            "clusters": [{"name": "federation",
                          "cluster": {"server": url, "certificate-authority": ca}}],
            "users": [{"name": "team", "user": {"token": token}}],
            "contexts": [{"name": "federation",
                          "context": {"cluster": "federation", "user": "team"}}]}, f)
    return path


def service_manifest(name: str, namespace: str = "default", ready: bool = True) -> str:
    return yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"type": "LoadBalancer", "selector": {"app": name},
                  "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"{name}-abc", "namespace": namespace,
                      "labels": {"kubernetes.io/service-name": name}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": ready}}]},
    ])


def ingress_ip(sim: Sim, member: str, name: str) -> str:
    out = sim.kubectl(member, "get", "svc", name, "-o", "json", check=False)
    if not out:
        return ""
    ingress = json.loads(out).get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return str(ingress[0].get("ip", "")) if ingress else ""


def etcd_keys(endpoint: str, prefix: str) -> dict[str, str]:
    out = subprocess.run(["etcdctl", "--endpoints", endpoint, "get", "--prefix", prefix,
                          "-w", "json"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "ETCDCTL_API": "3"}).stdout
    kvs = json.loads(out or "{}").get("kvs") or []
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in kvs}


def until(check: Any, timeout: float, what: str) -> Any:
    return procs.wait_for(check, timeout, what, interval=0.05)


def elapsed_until(check: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    until(check, timeout, what)
    return time.monotonic() - start
