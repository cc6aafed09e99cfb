"""The appliance: Store, IPAM, members, controller, DNS server and API wired from Settings.

``Appliance(settings)`` is what ``fedns run`` and ``fedns demo`` start.  Every replica
follows every member, serves DNS from the Store and serves the API; the leader
(elected through a Store lease) also reconciles.  ``start()`` returns once all of it
is listening; ``stop()`` undoes it in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any, Self

from prometheus_client import CollectorRegistry

from fedns import config, errors, kinds, placements, store, templates
from fedns.api import events as api_events
from fedns.api import metrics as metrics_mod
from fedns.api import overrides as api_overrides
from fedns.api import pods as api_pods
from fedns.api import pools as api_pools
from fedns.api import server as api_server
from fedns.controller import leader, placestatus, placing, propagation, runtime, services
from fedns.controller import metrics as controller_metrics
from fedns.controller import status as status_controller
from fedns.controller import view as view_mod
from fedns.dnsserver import daemon as dns_daemon
from fedns.dnsserver import server as dns_server
from fedns.dnsserver import settings as dns_settings
from fedns.dnsserver import workers as dns_workers
from fedns.ipamstore import manager as ipam_manager
from fedns.kapi import registry as kapi_registry
from fedns.members import kinds as member_kinds
from fedns.members import member as member_mod

log = logging.getLogger(__name__)

# Reconciles running at once.  A reconcile spends most of its time waiting for etcd
# round trips (the allocation, then the records), and the txns of concurrent
# reconciles go to etcd merged (fedns.store.batching): with few workers a burst is
# bounded by round trips and each merged txn is small; measured with
# bench.convergence (3 x 1,000), 64 gave half the p99 of 8 and a third less CPU
# per Service.
WORKERS = 64


class Appliance:
    """One fedns replica."""

    def __init__(self, settings: config.Settings, *, identity: str = "",
                 probe_interval: float = 1.0, lease_ttl: int = 10,
                 workers: int = WORKERS, resync: float = 300.0) -> None:
        self.settings = settings
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.probe_interval = probe_interval
        self.lease_ttl = lease_ttl
        self.workers = workers
        self.resync = resync
        self.registry = CollectorRegistry()
        self.metrics = controller_metrics.ControllerMetrics(self.registry)
        self.store: Any = None
        self.ipam: Any = None
        self.members: dict[str, member_mod.Member] = {}
        self.runtime: runtime.Runtime | None = None
        self.view: view_mod.View | None = None
        self.elector: leader.Elector | None = None
        self.dns: dns_daemon.Running | None = None  # in this process (dns.workers: 0)
        self.dns_workers: dns_workers.Workers | None = None  # in processes of their own
        self.api: api_server.APIServer | None = None
        self.api_address: tuple[str, int] = ("", 0)
        self.event_hub = api_events.Hub()  # member Events' changes, for the API's watches
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task] = []

    @property
    def dns_address(self) -> tuple[str, int]:
        if self.dns_workers is not None:
            return self.dns_workers.address
        return self.dns.address if self.dns else ("", 0)

    @property
    def api_url(self) -> str:
        """``http(s)://host:port`` of the appliance API."""
        return self.api.url if self.api else ""

    @property
    def leading(self) -> bool:
        return bool(self.elector and self.elector.leading)

    def _dns_settings(self) -> dns_settings.Settings:
        sites = []
        for site, subnets in self.settings.dns.sites.items():
            where = next((m for m in self.members.values() if m.spec.site_name == site), None)
            if where is None:
                log.warning("dns.sites.%s: no member belongs to that site; ignored", site)
                continue
            topo = self.view.topology(where.name) if self.view else None
            if topo is None:
                log.warning("dns.sites.%s: topology of %s unknown yet; ignored", site, where.name)
                continue
            sites.append(dns_settings.Site.make(site, topo.region, topo.zone, subnets,
                                                member=topo.member))
        d = self.settings.dns
        return dns_settings.Settings(
            zones=(self.settings.domain,), sites=tuple(sites),
            tcp_connections=d.tcp_connections, tcp_per_client=d.tcp_per_client,
            tcp_idle_timeout=d.tcp_idle_timeout, tcp_busy_idle_timeout=d.tcp_busy_idle_timeout,
            lease_min_ttl=d.lease_min_ttl, lease_max_ttl=d.lease_max_ttl)

    def _pods(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every member's Pods, as its informer holds them."""
        return self._cached(member_kinds.POD.kind)

    def _events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every member's Events, as its informer holds them."""
        return self._cached(member_kinds.EVENT.kind)

    def _cached(self, informer: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, m in self.members.items():
            inf = m.informers.get(informer)
            if inf is not None:
                for obj in list(inf.cache.values()):
                    yield name, obj

    def _checks(self) -> dict[str, str]:
        out = {}
        for name, m in self.members.items():
            # a member that cannot be reached does not make the appliance unready (DNS
            # and the API serve without it; its outage is the probe's metric and status)
            out[f"member-{name}"] = "" if m.synced() or runtime.unreachable(m) \
                else "caches not synced"
        if self.dns_workers is not None:
            synced = self.dns_workers.synced()
        else:
            synced = self.dns is not None and self.dns.source.synced.is_set()
        out["dns-zone"] = "" if synced else "zone not loaded"
        return out

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    def _check_addresses(self) -> None:
        """Bind every address the config names once, before anything else starts: a
        port that is taken is reported at once, without contacting a member first."""
        s = self.settings
        dns_host, dns_port = config.split_listen(s.dns.listen)
        if dns_port:
            with _naming("dns.listen"):
                for sock in dns_server.bind(dns_host, dns_port):
                    sock.close()
        api_host, api_port = config.split_listen(s.api.listen)
        if api_port:
            family = socket.AF_INET6 if ":" in api_host else socket.AF_INET
            with _naming("api.listen"), socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((api_host, api_port))
                except OSError as err:
                    raise errors.CannotListen.because(f"{api_host}:{api_port}", err) from err

    async def _start(self) -> None:
        s = self.settings
        self._check_addresses()
        self.store = await store.open_store(s.store)
        self._stack.push_async_callback(self.store.close)

        sites = {spec.name: spec.site_name for spec in s.members}
        self.ipam = ipam_manager.IPAM(self.store, sites, registry=self.registry)
        await self.ipam.start()
        self._stack.push_async_callback(self.ipam.stop)
        for name in await self.ipam.upgrade_pool_records():
            log.info("pool %s: record rewritten as an IPPool object", name)
        if s.pools:
            stored = {p.name for p in self.ipam.pools()}
            for p in await self.ipam.apply_pools(list(s.pools)):
                log.info("pool %s: %s", p.name,
                         "the config differs from the Store; applied the config"
                         if p.name in stored else "created from the config")

        self.view = view = view_mod.View(self.members)
        self.runtime = rt = runtime.Runtime(self.store, self.members, self.metrics,
                                            resync=self.resync, observers=[view.observe])
        svc = rt.add(services.ServiceController(self.store, s.federation, s.domain, s.dns.ttl,
                                                view, self.ipam, workers=self.workers))
        for i, spec in enumerate(s.members):
            try:
                self.members[spec.name] = member_mod.Member(
                    spec, on_change=rt.on_change, on_health=rt.on_health,
                    probe_interval=self.probe_interval)
            except member_mod.MemberConfigError as err:
                raise member_mod.MemberConfigError(f"members[{i}].kubeconfig: {err}") from err
        for m in self.members.values():
            await m.follow(member_kinds.POD)  # the endpoint lists them (fedns.api.pods)
            # ... and their Events (fedns.api.events), without managedFields
            await m.follow(member_kinds.EVENT, on_change=self.event_hub.changed,
                           transform=api_events.trim)
            await m.start()
            self._stack.push_async_callback(m.stop)
        self.registry.register(metrics_mod.DictCollector(
            lambda: {f'fedns_member_probe_duration_seconds{{member="{name}"}}': m.probe.latency
                     for name, m in self.members.items()},
            "Duration of the member's last health probe."))
        # nearest answers need each site's region/zone: give the caches a moment
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while not all(m.synced() for m in self.members.values()):
                    await asyncio.sleep(0.02)

        with _naming("dns.listen"):
            if s.dns.workers:
                self.dns_workers = await self._stack.enter_async_context(dns_workers.Workers(
                    s.store, self._dns_settings(), s.dns.listen, s.dns.workers))
                dns_metrics = self.dns_workers.metrics
            else:
                self.dns = await self._stack.enter_async_context(
                    dns_daemon.running(self.store, self._dns_settings(), s.dns.listen))
                dns_metrics = self.dns.server.metrics
        self.registry.register(metrics_mod.DictCollector(
            dns_metrics, "The embedded DNS server (see fedns/dnsserver/README.md)."))

        # the federation endpoint: the built-in template kinds beside the fedns.io ones
        endpoint = [api_events.kind(k) if api_events.is_events(k) else k
                    for k in templates.kinds()]
        reg = kapi_registry.Registry([*endpoint, api_pods.KIND, api_pools.kind(self.ipam),
                                      kinds.MEMBERS, kinds.FEDERATED_SERVICES,
                                      api_overrides.kind(), *placements.KINDS])
        self.api = api_server.APIServer(self.store, reg, self.registry, self._checks,
                                        token=s.api.token, pods=self._pods,
                                        event_ttl=s.api.event_ttl, events=self._events,
                                        event_hub=self.event_hub)
        for name in await templates.seed(self.api.storage):
            log.debug("endpoint: namespace %s created", name)
        host, port = config.split_listen(s.api.listen)
        with _naming("api.listen"):
            port = await self.api.start(host, port, ssl_context=s.api.ssl_context())
        self.api_address = (host, port)
        self._stack.push_async_callback(self.api.stop)
        rt.add(status_controller.StatusController(self.api.storage, view, s.federation,
                                                  s.domain, after=svc, refusal=svc.refusal))
        rt.add(propagation.PropagationController(
            self.api.storage, self.members, templates.propagated(endpoint),
            placer=placing.Placer(self.api.storage, self.members, view), metrics=self.metrics))
        rt.add(placestatus.PlacementStatusController(self.api.storage,
                                                     templates.propagated(endpoint)))
        self._tasks.append(asyncio.create_task(rt.follow_store(), name="store-follower"))
        self.elector = leader.Elector(self.store, self.identity, rt.lead, ttl=self.lease_ttl)
        self._tasks.append(asyncio.create_task(self.elector.run(), name="elector"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.contextmanager
def _naming(field: str) -> Iterator[None]:
    """A port that cannot be listened on is reported as the config field naming it."""
    try:
        yield
    except errors.CannotListen as err:
        raise errors.CannotListen(f"{field}: {err}") from err
