"""``fedns demo``: the whole appliance on the embedded default, with simulated members.

Three simulated members in different regions and zones, a pool per site from the
documentation ranges, sample LoadBalancer Services created through the kubernetes
client (one of them without ready endpoints), the DNS server and the API.  Without
``--smoke`` it prints what to try and runs until Ctrl-C; with ``--smoke`` it runs the
scripted scenario (create, resolve every tier, apply a Deployment and a LoadBalancer
Service once at the federation endpoint and see them everywhere, fail a member, see
the fallback, delete, see the withdrawal), prints each check and exits 1 on any failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import dnslib
import kubernetes

from fedns import app, config
from fedns.controller import state
from fedns.sim import cluster

FEDERATION, DOMAIN, NAMESPACE = "demo", "fedns.example", "default"
MEMBERS = "umich:us-east:us-east-1,uva:us-east:us-east-2,ucsd:us-west:us-west-1"
POOLS: list[dict[str, Any]] = [
    {"name": "umich-v4", "site": "umich", "addresses": ["192.0.2.0/26"],
     "avoidBuggyIPs": True},
    {"name": "uva-v4", "site": "uva", "addresses": ["192.0.2.64-192.0.2.127"]},
    {"name": "ucsd-v4", "site": "ucsd", "addresses": ["198.51.100.0/26"],
     "reserved": ["198.51.100.0-198.51.100.9"]},
]
# client subnets per site, for nearest answers (dig +subnet=...)
SITES = {"umich": ["10.1.0.0/16"], "uva": ["10.2.0.0/16"], "ucsd": ["10.3.0.0/16"]}
# service -> {member: ready endpoints?}
SERVICES = {
    "hello": {"umich": True, "uva": True, "ucsd": True},
    "api": {"umich": True, "ucsd": True},
    "pending": {"uva": False},
}


class SmokeFailed(Exception):
    """A scripted check failed."""


def settings_for(kubeconfig: str, dns_listen: str, api_listen: str) -> config.Settings:
    return config.parse({
        "federation": FEDERATION, "domain": DOMAIN, "store": "memory://",
        "dns": {"listen": dns_listen, "ttl": 30, "sites": SITES},
        "api": {"listen": api_listen},
        "members": [{"name": spec.name, "kubeconfig": kubeconfig, "context": spec.name}
                    for spec in cluster.parse_members(MEMBERS)],
        "pools": POOLS,
    }, "demo")


# -- talking to members and DNS as a user would --------------------------------


def _client(kubeconfig: str, member: str) -> Any:
    return kubernetes.config.new_client_from_config(config_file=kubeconfig, context=member,
                                                    persist_config=False)


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"type": "LoadBalancer", "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def _slice(name: str, ready: bool) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-1", "namespace": NAMESPACE,
                         "labels": {state.SERVICE_NAME_LABEL: name}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.244.0.10"], "conditions": {"ready": ready}}]}


def create_service(kubeconfig: str, member: str, name: str, ready: bool) -> None:
    # the client takes plain manifests as bodies as well as its model objects
    service: Any = _service(name)
    endpoints: Any = _slice(name, ready)
    with _client(kubeconfig, member) as api:
        kubernetes.client.CoreV1Api(api).create_namespaced_service(NAMESPACE, service)
        kubernetes.client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
            NAMESPACE, endpoints)


def delete_service(kubeconfig: str, member: str, name: str) -> None:
    with _client(kubeconfig, member) as api:
        kubernetes.client.CoreV1Api(api).delete_namespaced_service(name, NAMESPACE)
        kubernetes.client.DiscoveryV1Api(api).delete_namespaced_endpoint_slice(
            f"{name}-1", NAMESPACE)


def ingress(kubeconfig: str, member: str, name: str) -> list[str]:
    with _client(kubeconfig, member) as api:
        # the raw urllib3 response, read as plain JSON like every other object here
        svc: Any = kubernetes.client.CoreV1Api(api).read_namespaced_service(
            name, NAMESPACE, _preload_content=False)
        return state.ingress_ips(json.loads(svc.data))


# applied once at the federation endpoint (the kubeconfig's federation context)
ENDPOINT_APP, ENDPOINT_REPLICAS = "web", 6


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name,
                                                           "image": "nginx:1.27"}]}}}}


def apply_at_endpoint(kubeconfig: str, name: str, replicas: int) -> None:
    body: Any = _deployment(name, replicas)
    service: Any = _service(name)
    with _client(kubeconfig, "federation") as api:
        kubernetes.client.AppsV1Api(api).create_namespaced_deployment(NAMESPACE, body)
        kubernetes.client.CoreV1Api(api).create_namespaced_service(NAMESPACE, service)


def read(kubeconfig: str, context: str, kind: str, name: str) -> dict[str, Any]:
    """A Deployment or Service as JSON from a member or (``federation``) the endpoint."""
    with _client(kubeconfig, context) as api:
        if kind == "deployment":
            found: Any = kubernetes.client.AppsV1Api(api).read_namespaced_deployment(
                name, NAMESPACE, _preload_content=False)
        else:
            found = kubernetes.client.CoreV1Api(api).read_namespaced_service(
                name, NAMESPACE, _preload_content=False)
        result: dict[str, Any] = json.loads(found.data)
        return result


def query(server: tuple[str, int], name: str, qtype: str = "A",
          subnet: str = "") -> tuple[str, list[str]]:
    """(rcode, answers as 'TYPE value') from the DNS server."""
    q = dnslib.DNSRecord.question(name, qtype)
    if subnet:
        net, _, length = subnet.partition("/")
        ecs = dnslib.EDNSOption(8, bytes([0, 1, int(length), 0]) +
                                bytes(int(o) for o in net.split("."))[: (int(length) + 7) // 8])
        q.add_ar(dnslib.EDNS0(udp_len=1232, opts=[ecs]))
    reply = dnslib.DNSRecord.parse(q.send(server[0], server[1], timeout=2))
    rcode = dnslib.RCODE.get(reply.header.rcode)
    return str(rcode), sorted(f"{dnslib.QTYPE.get(rr.rtype)} {rr.rdata}" for rr in reply.rr)


# -- the scenario ---------------------------------------------------------------


class Smoke:
    """Scripted checks; each prints one line with its result and time."""

    def __init__(self, appliance: app.Appliance, members: list[cluster.Member],
                 kubeconfig: str) -> None:
        self.appliance = appliance
        self.members = {m.name: m for m in members}
        self.kubeconfig = kubeconfig
        self.failures = 0
        self.ips: dict[tuple[str, str], list[str]] = {}

    def name(self, service: str, *tier: str) -> str:
        return ".".join([service, NAMESPACE, FEDERATION, "svc", *tier, DOMAIN])

    async def check(self, what: str, probe: Callable[[], Awaitable[Any]],
                    timeout: float = 10.0) -> Any:
        """Poll ``probe`` until it returns a truthy value; print the outcome."""
        start = time.monotonic()
        last: Any = None
        while True:
            try:
                last = await probe()
            except Exception as err:  # noqa: BLE001 - a failed probe is retried, then reported
                last = f"error: {err}"
            if last and not isinstance(last, str):
                print(f"  ok    {what} ({(time.monotonic() - start) * 1000:.0f} ms)", flush=True)
                return last
            if time.monotonic() - start > timeout:
                print(f"  FAIL  {what}: last saw {last!r}", flush=True)
                self.failures += 1
                return None
            await asyncio.sleep(0.05)

    async def answers(self, name: str, qtype: str = "A", subnet: str = "") -> tuple[str, list[str]]:
        return await asyncio.to_thread(query, self.appliance.dns_address, name, qtype, subnet)

    def expect(self, name: str, want: list[str], qtype: str = "A", subnet: str = "",
               rcode: str = "NOERROR") -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            got_rcode, got = await self.answers(name, qtype, subnet)
            return got_rcode == rcode and got == sorted(want)
        return probe

    def a(self, *pairs: tuple[str, str]) -> list[str]:
        return [f"A {ip}" for pair in pairs for ip in self.ips[pair]]

    async def run(self) -> int:
        kc = self.kubeconfig
        print("create the sample Services through the kubernetes client")
        for service, where in SERVICES.items():
            for member, ready in where.items():
                await asyncio.to_thread(create_service, kc, member, service, ready)
        for service, where in SERVICES.items():
            for member in where:
                pool = next(p for p in POOLS if p["site"] == member)

                async def got_ip(member: str = member, service: str = service) -> list[str]:
                    return await asyncio.to_thread(ingress, kc, member, service)

                ips = await self.check(f"{member}/{service} gets an IP from {pool['name']}", got_ip)
                self.ips[(member, service)] = ips or []

        print("resolve every tier")
        hello = "hello"
        await self.check(f"{self.name(hello)} answers every member",
                         self.expect(self.name(hello), self.a(("umich", hello), ("uva", hello),
                                                              ("ucsd", hello))))
        await self.check(f"{self.name(hello, 'us-east')} answers umich and uva",
                         self.expect(self.name(hello, "us-east"),
                                     self.a(("umich", hello), ("uva", hello))))
        await self.check(f"{self.name(hello, 'us-east-2', 'us-east')} answers uva",
                         self.expect(self.name(hello, "us-east-2", "us-east"),
                                     self.a(("uva", hello))))
        await self.check(f"umich.{self.name(hello)} answers umich alone",
                         self.expect("umich." + self.name(hello), self.a(("umich", hello))))
        api_zone = self.name("api", "us-east-2", "us-east")
        await self.check(f"{api_zone} (no copy in that zone) falls back by CNAME to the region",
                         self.expect(api_zone, [f"A {self.ips[('umich', 'api')][0]}",
                                                f"CNAME {self.name('api', 'us-east')}."]))
        await self.check(f"{self.name('pending')} (no ready endpoint) is NXDOMAIN",
                         self.expect(self.name("pending"), [], rcode="NXDOMAIN"))
        await self.check(f"{self.name(hello)} from a ucsd client (ECS 10.3.0.0/16) is ucsd's copy",
                         self.expect(self.name(hello), self.a(("ucsd", hello)),
                                     subnet="10.3.0.0/16"))

        await self.endpoint()

        print("fail a member")
        await self.members["uva"].stop()
        await self.check(f"uva is withdrawn from {self.name(hello)} after 3 failed probes",
                         self.expect(self.name(hello), self.a(("umich", hello), ("ucsd", hello))))
        await self.check(f"{self.name(hello, 'us-east-2', 'us-east')} falls back to the region",
                         self.expect(self.name(hello, "us-east-2", "us-east"),
                                     self.a(("umich", hello)) +
                                     [f"CNAME {self.name(hello, 'us-east')}."]))
        await self.members["uva"].start()
        await self.check("uva is back when it answers again",
                         self.expect(self.name(hello), self.a(("umich", hello), ("uva", hello),
                                                              ("ucsd", hello))))

        print("delete")
        await asyncio.to_thread(delete_service, kc, "ucsd", hello)
        await self.check(f"deleting {hello} in ucsd withdraws it",
                         self.expect(self.name(hello), self.a(("umich", hello), ("uva", hello))))

        async def released() -> bool:
            return not any(a.member == "ucsd" and a.service == hello
                           for a in self.appliance.ipam.allocations())
        await self.check("its address goes back to the ucsd pool", released)
        for member in ("umich", "uva"):
            await asyncio.to_thread(delete_service, kc, member, hello)
        await self.check(f"deleting {hello} everywhere makes it NXDOMAIN",
                         self.expect(self.name(hello), [], rcode="NXDOMAIN"))

        async def no_keys() -> bool:
            listing = await self.appliance.store.range(b"/skydns/")
            return not any(b"/hello/" in kv.key or kv.key.endswith(b"/hello")
                           for kv in listing.kvs)
        await self.check("no record key of it is left in the Store", no_keys)
        print(f"{'FAILED' if self.failures else 'passed'}: {self.failures} failed checks")
        return 1 if self.failures else 0


    async def endpoint(self) -> None:
        """A Deployment and a LoadBalancer Service applied once at the endpoint: their
        copies in every member (replicas divided), Available summed back, each member's
        pool address on the endpoint's Service, every DNS tier answering."""
        kc, web, total = self.kubeconfig, ENDPOINT_APP, ENDPOINT_REPLICAS
        print("apply a Deployment and a LoadBalancer Service once at the federation endpoint")
        await asyncio.to_thread(apply_at_endpoint, kc, web, total)
        share = total // len(self.members)
        for member in self.members:
            async def copied(member: str = member) -> bool:
                found = await asyncio.to_thread(read, kc, member, "deployment", web)
                return bool(found["spec"]["replicas"] == share)
            await self.check(f"{member} runs its share of {web}: {share} of {total} replicas",
                             copied, timeout=20)

        async def available() -> bool:
            found = await asyncio.to_thread(read, kc, "federation", "deployment", web)
            status = found.get("status") or {}
            return status.get("readyReplicas") == total and any(
                c.get("type") == "Available" and c.get("status") == "True"
                for c in status.get("conditions") or [])
        await self.check(f"the endpoint's {web} is Available with {total}/{total} ready",
                         available, timeout=20)
        for member in self.members:
            pool = next(p for p in POOLS if p["site"] == member)

            async def got_ip(member: str = member) -> list[str]:
                return await asyncio.to_thread(ingress, kc, member, web)
            self.ips[(member, web)] = await self.check(
                f"{member}/{web} gets an IP from {pool['name']}", got_ip, timeout=20) or []

        async def listed() -> bool:
            found = await asyncio.to_thread(read, kc, "federation", "service", web)
            ips = [i.get("ip") for i in ((found.get("status") or {}).get("loadBalancer") or {})
                   .get("ingress") or []]
            return sorted(ips) == sorted(ip for m in self.members for ip in self.ips[(m, web)])
        await self.check(f"the endpoint's Service {web} lists every member's address", listed)
        tiers = [((), list(self.members)), (("us-east",), ["umich", "uva"]),
                 (("us-east-1", "us-east"), ["umich"]), (("us-east-2", "us-east"), ["uva"]),
                 (("us-west",), ["ucsd"]), (("us-west-1", "us-west"), ["ucsd"])]
        for tier, where in tiers:
            name = self.name(web, *tier)
            await self.check(f"{name} answers {', '.join(where)}",
                             self.expect(name, self.a(*((m, web) for m in where))))


def federation_kubeconfig(members: Any, api_url: str) -> dict[str, Any]:
    """The members' kubeconfig plus a ``federation`` context (the current one) for the
    appliance API, which needs no credentials on loopback."""
    document = cluster.kubeconfig(members)
    document["clusters"].append({"name": "federation", "cluster": {"server": api_url}})
    document["users"].append({"name": "federation", "user": {}})
    document["contexts"].append({"name": "federation",
                                 "context": {"cluster": "federation", "user": "federation"}})
    document["current-context"] = "federation"
    return document


def print_try(appliance: app.Appliance, kubeconfig: str) -> None:
    host, port = appliance.dns_address
    api_host, api_port = appliance.api_address
    name = f"hello.{NAMESPACE}.{FEDERATION}.svc.{DOMAIN}"
    print(f"""
fedns demo is running: federation {FEDERATION!r}, domain {DOMAIN!r}
  DNS:        {host}:{port} (udp and tcp)
  API:        http://{api_host}:{api_port}
  kubeconfig: {kubeconfig} (contexts: federation (current), umich, uva, ucsd)
  state:      in this process's memory; reach it through the API (kubectl,
              fedns status), not fedns pool/ip/store, which need an etcd store

Try:
  dig @{host} -p {port} {name}
  dig @{host} -p {port} {name.replace('.svc.', '.svc.us-east.')}
  dig @{host} -p {port} {name.replace('.svc.', '.svc.us-east-2.us-east.')}
  dig @{host} -p {port} umich.{name}
  dig @{host} -p {port} +subnet=10.3.0.0/16 {name}
  dig @{host} -p {port} SRV _http._tcp.{name}
  dig @{host} -p {port} pending.{NAMESPACE}.{FEDERATION}.svc.{DOMAIN}
  kubectl --kubeconfig {kubeconfig} --context umich get svc
  kubectl --kubeconfig {kubeconfig} --context ucsd describe svc hello
  kubectl --kubeconfig {kubeconfig} get ippools,members,federatedservices
  kubectl --kubeconfig {kubeconfig} patch ippool uva-v4 --type merge -p '{{"spec":{{"draining":true}}}}'
  fedns status --api http://{api_host}:{api_port}

Ctrl-C stops it.""", flush=True)
