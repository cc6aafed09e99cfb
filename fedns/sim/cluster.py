"""Simulated member clusters: a kapi server per member, each with its own memory Store.

``await start_members(specs, token)`` starts one :class:`Member` per spec on a free
loopback port and seeds it like a fresh cluster (namespaces ``default``,
``kube-system``, ``kube-public``, ``kube-node-lease``; the ``kubernetes`` Service;
Nodes labelled with the member's region and zone, new and legacy label keys).
``write_kubeconfig(members, path, token)`` writes one cluster, user and context per
member, named after it.  With a token the members serve HTTPS with a throwaway
self-signed certificate (kubectl sends no credentials over plain HTTP), which the
kubeconfig carries as certificate-authority-data.  Each member runs the simulated
controllers of :mod:`fedns.sim.controllers` (scheduler, kubelets, workloads,
EndpointSlices, garbage collection) in process over its Storage.  A Member can be
stopped and started again on the same port with its state kept (its Store and its
controllers outlive its server), which is how tests simulate an API outage or a
member restart.  Not for: anything beyond loopback; no load balancer assigns
Service IPs (fedns does).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import yaml

from fedns import errors
from fedns.kapi import builtin, discovery, objects, server, storage
from fedns.sim import controllers, runtime, tls
from fedns.store import memory

NODES_PER_MEMBER = 2
EVENT_TTL = 3600  # seconds a member keeps an Event: kube-apiserver's --event-ttl default
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TOPOLOGY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class BadMemberSpec(errors.UsageError):
    """The member list is not NAME[:REGION:ZONE],..."""


class MemberNotReady(errors.TemporaryError):
    """A simulated member did not answer /readyz in time."""


@dataclasses.dataclass(frozen=True)
class MemberSpec:
    """One simulated member: its name, the region and zone its Nodes are labelled with,
    and how many Nodes it has."""

    name: str
    region: str
    zone: str
    nodes: int = NODES_PER_MEMBER
    behaviour: runtime.Settings = dataclasses.field(default_factory=runtime.Settings)


def default_topology(name: str) -> tuple[str, str]:
    """Region and zone when the spec gives none: region ``<name>``, zone ``<name>-a``."""
    return name, f"{name}-a"


def parse_member(text: str, nodes: int = NODES_PER_MEMBER) -> MemberSpec:
    """``NAME``, ``NAME:REGION`` (zone ``REGION-a``) or ``NAME:REGION:ZONE``."""
    parts = [p.strip() for p in text.strip().split(":")]
    name = parts[0]
    if not name or len(name) > 63 or not _NAME.match(name):
        raise BadMemberSpec(f"member {text!r}: the name must be a lowercase DNS label "
                            "(a-z, 0-9, '-'), e.g. umich")
    if len(parts) > 3:
        raise BadMemberSpec(f"member {text!r}: expected NAME[:REGION[:ZONE]]")
    region, zone = default_topology(name)
    if len(parts) >= 2:
        region = parts[1]
        zone = f"{region}-a"
    if len(parts) == 3:
        zone = parts[2]
    for what, value in (("region", region), ("zone", zone)):
        if not value or len(value) > 63 or not _TOPOLOGY.match(value):
            raise BadMemberSpec(f"member {text!r}: {what} {value!r} is not a valid label value")
    return MemberSpec(name, region, zone, nodes)


def parse_members(text: str, nodes: int = NODES_PER_MEMBER) -> list[MemberSpec]:
    """A comma-separated member list; names must be unique."""
    specs = [parse_member(part, nodes) for part in text.split(",") if part.strip()]
    if not specs:
        raise BadMemberSpec("no members given: expected NAME[:REGION:ZONE],...")
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise BadMemberSpec(f"member {spec.name!r} is given twice")
        seen.add(spec.name)
    return specs


def node_cidrs(pod_cidr: str, count: int) -> list[str]:
    """One /24 (a /64 for IPv6) of the member's Pod range per Node, in order."""
    network = ipaddress.ip_network(pod_cidr, strict=False)
    size = 24 if network.version == 4 else 64
    if network.prefixlen > size:
        return [str(network)] * count
    subnets = network.subnets(new_prefix=size)
    return [str(next(subnets, network)) for _ in range(count)]


def node_objects(spec: MemberSpec) -> list[dict[str, Any]]:
    """The Nodes a member is seeded with: ``<name>-control-plane``, then workers."""
    nodes = []
    cidrs = node_cidrs(spec.behaviour.pod_cidr, spec.nodes)
    for i in range(spec.nodes):
        name = f"{spec.name}-control-plane" if i == 0 else \
            f"{spec.name}-worker" + (str(i) if i > 1 else "")
        labels = {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/region": spec.region,
            "topology.kubernetes.io/zone": spec.zone,
            "failure-domain.beta.kubernetes.io/region": spec.region,
            "failure-domain.beta.kubernetes.io/zone": spec.zone,
        }
        if i == 0:
            labels["node-role.kubernetes.io/control-plane"] = ""
        now = objects.timestamp()
        nodes.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": cidrs[i], "podCIDRs": [cidrs[i]]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                              {"type": "Hostname", "address": name}],
                "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": now, "lastTransitionTime": now}],
                "nodeInfo": {"kubeletVersion": discovery.GIT_VERSION,
                             "kubeProxyVersion": discovery.GIT_VERSION,
                             "osImage": "fedns simulated member", "operatingSystem": "linux",
                             "architecture": "amd64", "kernelVersion": "",
                             "containerRuntimeVersion": "fedns://sim"},
            },
        })
    return nodes


async def seed(store: storage.Storage, spec: MemberSpec) -> None:
    """Make a fresh member look like a new cluster."""
    namespaces = store.registry.lookup("", "v1", "namespaces")
    nodes = store.registry.lookup("", "v1", "nodes")
    services = store.registry.lookup("", "v1", "services")
    assert namespaces is not None and nodes is not None and services is not None
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        await store.create(namespaces, "", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": name}})
    network = store.settings.network()
    await store.create(services, "default", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver",
                                                      "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": str(network.network_address + 1),
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": 6443}]},
    })
    for node in node_objects(spec):
        await store.create(nodes, "", node)


class Member:
    """One simulated member cluster.  ``start()`` the first time picks a free port and
    seeds the Store; later starts reuse the port and the Store.  With a certificate it
    serves HTTPS (needed with a token: kubectl sends no credentials over HTTP)."""

    def __init__(self, spec: MemberSpec, token: str | None = None,
                 host: str = "127.0.0.1", certificate: tls.Certificate | None = None, *,
                 clock: Callable[[], datetime.datetime] = runtime.utc_now) -> None:
        self.spec = spec
        self.clock = clock  # the controllers' time (CronJob schedules); tests inject it
        self.token = token
        self.host = host
        self.certificate = certificate
        self.port = 0
        self.store = memory.MemoryStore()
        self.server: server.Server | None = None
        self.registry = builtin.registry()
        self.storage = storage.Storage(self.store, self.registry,
                                       settings=storage.Settings(garbage_collector=True,
                                                                 event_ttl=EVENT_TTL))
        self.controllers: runtime.Runtime | None = None
        self._seeded = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.server is not None

    async def start(self, bind_timeout: float = 5.0) -> None:
        if self.server is not None:
            return
        api = server.Server(self.store, self.registry, token=self.token,
                            settings=self.storage.settings)
        if not self._seeded:
            await seed(self.storage, self.spec)
            self._seeded = True
        if self.controllers is None:
            self.controllers = controllers.build(self.storage, self.spec.behaviour, self.clock)
            await self.controllers.start()
        context = self.certificate.server_context() if self.certificate else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bind_timeout
        while True:
            try:
                self.port = await api.start(self.host, self.port, context)
                break
            except OSError:
                # a restart on the same port can race the old socket's close
                if not self.port or loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
        self.server = api

    async def stop(self) -> None:
        """Close the port and end watches; the state stays for the next start()."""
        if self.server is not None:
            api, self.server = self.server, None
            await api.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        await self.store.close()

    async def ready(self, session: aiohttp.ClientSession) -> bool:
        try:
            ssl_context = self.certificate.client_context() if self.certificate else None
            async with session.get(self.url + "/readyz", ssl=ssl_context or True,
                                   timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status == 200 and (await response.text()).strip() == "ok"
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False


async def start_members(specs: Sequence[MemberSpec], token: str | None = None,
                        host: str = "127.0.0.1", https: bool | None = None) -> list[Member]:
    """Start one member per spec; if one fails, the started ones are stopped.  HTTPS
    (one self-signed certificate for all) when ``https``, by default when a token is
    set."""
    https = token is not None if https is None else https
    certificate = tls.self_signed() if https else None
    members = [Member(spec, token, host, certificate) for spec in specs]
    try:
        for member in members:
            await member.start()
    except BaseException:
        await stop_members(members)
        raise
    return members


async def stop_members(members: Sequence[Member]) -> None:
    for member in members:
        await member.close()


async def wait_ready(members: Sequence[Member], timeout: float = 10.0) -> None:
    """Return once every member answers ``/readyz`` with ok; raise MemberNotReady."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        for member in members:
            while not await member.ready(session):
                if loop.time() > deadline:
                    raise MemberNotReady(f"member {member.name} at {member.url} did not answer "
                                         f"/readyz within {timeout}s")
                await asyncio.sleep(0.05)


def kubeconfig(members: Sequence[Member], token: str | None = None) -> dict[str, Any]:
    """One cluster, user and context per member, all named after it; the first member
    is the current context."""
    user: dict[str, Any] = {"token": token} if token else {}
    clusters = []
    for m in members:
        entry: dict[str, Any] = {"server": m.url}
        if m.certificate is not None:
            entry["certificate-authority-data"] = base64.b64encode(
                m.certificate.cert_pem).decode()
        clusters.append({"name": m.name, "cluster": entry})
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": clusters,
        "users": [{"name": m.name, "user": dict(user)} for m in members],
        "contexts": [{"name": m.name, "context": {"cluster": m.name, "user": m.name,
                                                  "namespace": "default"}} for m in members],
        "current-context": members[0].name if members else "",
    }


def write_kubeconfig(members: Sequence[Member], path: str, token: str | None = None) -> None:
    """Write the kubeconfig atomically (readers never see half a file), mode 0600."""
    write_document(kubeconfig(members, token), path)


def write_document(document: dict[str, Any], path: str) -> None:
    """Write a kubeconfig document atomically, mode 0600."""
    text = yaml.safe_dump(document, sort_keys=False)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise

