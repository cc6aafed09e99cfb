"""One member cluster: a kubeconfig context, its informers, its health probe, its writes.

A member is reached exactly as kubectl reaches it (the same kubeconfig file and
context), over one aiohttp session on the event loop (:mod:`transport`).  The member
follows Services, EndpointSlices, Nodes and Namespaces into local caches and probes the API
server's health; the controller reads the caches and calls :meth:`Member.set_ingress`
and :meth:`Member.record_event` to write back.  Constructing a Member only reads the
kubeconfig (a bad one raises MemberConfigError there); ``start()`` opens the
connection in the running loop, ``stop()`` closes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Any

from fedns import errors
from fedns.members import health, informer, transport
from placement import topology

KINDS = ("Service", "EndpointSlice", "Node", "Namespace")
# cluster-wide collections, one informer each
PATHS = {"Service": "/api/v1/services",
         "EndpointSlice": "/apis/discovery.k8s.io/v1/endpointslices",
         "Node": "/api/v1/nodes",
         "Namespace": "/api/v1/namespaces"}
# set on every namespace by the API server (Kubernetes >= 1.21), so selectors may use it
NAME_LABEL = "kubernetes.io/metadata.name"


class MemberConfigError(errors.UsageError):
    """The member's kubeconfig or context cannot be used."""


class MemberWriteError(errors.TemporaryError):
    """A write to the member failed; it will be retried."""


class ObjectGone(MemberWriteError):
    """The object written to was deleted meanwhile (HTTP 404): nothing to retry, its
    deletion has its own watch event."""


@dataclasses.dataclass(frozen=True)
class MemberSpec:
    """A member as the config file names it (DESIGN.md: ``members[]``)."""

    name: str
    kubeconfig: str
    context: str = ""
    site: str = ""
    region: str = ""
    zone: str = ""
    ipam: str = "managed"  # managed: fedns writes the ingress IP; observe: read it

    @property
    def site_name(self) -> str:
        return topology.site_of(self.name, self.site)


class Member:
    """A running member connection.  ``await start()``, then read the caches."""

    def __init__(
        self,
        spec: MemberSpec,
        on_change: informer.OnChange | None = None,
        on_health: Callable[[str, bool], None] | None = None,
        probe_interval: float = 1.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        try:
            self.transport = transport.Transport.from_kubeconfig(spec.kubeconfig, spec.context)
        except transport.ConfigError as err:
            raise MemberConfigError(f"member {spec.name!r}: {err}") from err

        def changed(kind: str, key: str, obj: Any, old: Any) -> None:
            if on_change is not None:
                on_change(f"{self.name}/{kind}", key, obj, old)

        self.informers = {kind: informer.Informer(kind, PATHS[kind], self.transport, changed)
                          for kind in KINDS}
        self.probe = health.Probe(
            self.transport, interval=probe_interval,
            on_flip=lambda ready: on_health(self.name, ready) if on_health else None)
        self._tasks: list[asyncio.Task] = []

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.informers["Service"].cache

    @property
    def endpointslices(self) -> dict[str, dict[str, Any]]:
        return self.informers["EndpointSlice"].cache

    @property
    def nodes(self) -> dict[str, dict[str, Any]]:
        return self.informers["Node"].cache

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """The labels of ``namespace`` as the member has them (pool namespace selectors
        match these), with the name label the API server always sets."""
        obj = self.informers["Namespace"].cache.get(namespace) or {}
        labels = dict((obj.get("metadata") or {}).get("labels") or {})
        labels.setdefault(NAME_LABEL, namespace)
        return labels

    @property
    def ready(self) -> bool:
        return self.probe.ready

    def synced(self) -> bool:
        return all(inf.synced.is_set() for inf in self.informers.values())

    def topology(self) -> topology.Location:
        """Where the member sits: its config, else its Nodes' labels (raises
        :class:`placement.topology.TopologyUnknown`)."""
        return topology.resolve(self.name, self.nodes.values(), site=self.spec.site,
                                region=self.spec.region, zone=self.spec.zone)

    async def start(self) -> None:
        await self.transport.start()
        self._tasks = [asyncio.create_task(inf.run(), name=f"{self.name}-{kind}")
                       for kind, inf in self.informers.items()]
        self._tasks.append(asyncio.create_task(self.probe.run(), name=f"{self.name}-probe"))

    async def stop(self) -> None:
        for inf in self.informers.values():
            inf.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.transport.close()

    # -- writes --------------------------------------------------------------

    async def set_ingress(self, namespace: str, name: str, ips: list[str]) -> None:
        """Write ``status.loadBalancer.ingress`` of a Service (merge patch of status)."""
        body = {"status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}
        try:
            await self.transport.request(
                "PATCH", f"/api/v1/namespaces/{namespace}/services/{name}/status",
                body=body, content_type=transport.MERGE_PATCH)
        except transport.StatusError as err:
            kind = ObjectGone if err.status == 404 else MemberWriteError
            raise kind(
                f"member {self.name!r}: status of service {namespace}/{name}: "
                f"HTTP {err.status} {err.reason}") from err
        except Exception as err:
            raise MemberWriteError(
                f"member {self.name!r}: status of service {namespace}/{name}: "
                f"{transport.describe(err)}") from err

    async def record_event(self, service: dict[str, Any], reason: str, message: str,
                           type_: str = "Normal") -> None:
        """A core/v1 Event on the Service, as ``kubectl describe svc`` shows it."""
        meta = service.get("metadata") or {}
        namespace = meta.get("namespace", "default")
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}",
                         "namespace": namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": meta.get("name"),
                               "namespace": namespace, "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_,
            "source": {"component": "fedns-controller"},
            "reportingComponent": "fedns.io/controller",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            await self.transport.request("POST", f"/api/v1/namespaces/{namespace}/events",
                                         body=event)
        except Exception as err:
            raise MemberWriteError(
                f"member {self.name!r}: event {reason}: {transport.describe(err)}") from err
