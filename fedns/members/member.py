"""One member cluster: a kubeconfig context, its informers, its health probe, its writes.

A member is reached exactly as kubectl reaches it (the same kubeconfig file and
context), through the official ``kubernetes`` client.  The member follows Services,
EndpointSlices and Nodes into local caches and probes the API server's health; the
controller reads the caches and calls :meth:`Member.set_ingress` and
:meth:`Member.record_event` to write back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from fedns import errors
from fedns.members import health, informer, rest, topology

KINDS = ("Service", "EndpointSlice", "Node")


class MemberConfigError(errors.UsageError):
    """The member's kubeconfig or context cannot be used."""


class MemberWriteError(errors.TemporaryError):
    """A write to the member failed; it will be retried."""


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
        return self.site or self.name


def api_client(spec: MemberSpec, retries: Any = None) -> Any:
    """A ``kubernetes`` ApiClient for the member's kubeconfig context.  ``retries``
    is urllib3's (None: the client's default; False: fail at once, for probes)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(
            config_file=spec.kubeconfig, context=spec.context or None,
            client_configuration=configuration, persist_config=False)
    except (kubernetes.config.ConfigException, OSError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MemberConfigError(
            f"member {spec.name!r}: kubeconfig {spec.kubeconfig!r}"
            f"{' context ' + repr(spec.context) if spec.context else ''}: {first}") from err
    configuration.retries = retries
    # enough kept-alive connections for the worker threads that share this client
    configuration.connection_pool_maxsize = 32
    return kubernetes.client.ApiClient(configuration)


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
        self.api = api_client(spec)
        self.core = kubernetes.client.CoreV1Api(self.api)
        discovery = kubernetes.client.DiscoveryV1Api(self.api)

        def changed(kind: str, key: str, obj: Any, old: Any) -> None:
            if on_change is not None:
                on_change(f"{self.name}/{kind}", key, obj, old)

        self.informers = {
            "Service": informer.Informer("Service", self.core.list_service_for_all_namespaces,
                                         changed),
            "EndpointSlice": informer.Informer(
                "EndpointSlice", discovery.list_endpoint_slice_for_all_namespaces, changed),
            "Node": informer.Informer("Node", self.core.list_node, changed),
        }
        # its own client, without urllib3's retries: a hung member must count as a
        # failed probe after one timeout, not after four
        self._probe_api = api_client(spec, retries=False)
        self.probe = health.Probe(
            self._probe_api, interval=probe_interval,
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

    @property
    def ready(self) -> bool:
        return self.probe.ready

    def synced(self) -> bool:
        return all(inf.synced.is_set() for inf in self.informers.values())

    def topology(self) -> topology.Topology:
        return topology.resolve(self.name, self.spec.region, self.spec.zone,
                                self.nodes.values())

    async def start(self) -> None:
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
        await asyncio.to_thread(self.api.close)
        await asyncio.to_thread(self._probe_api.close)

    # -- writes --------------------------------------------------------------

    async def set_ingress(self, namespace: str, name: str, ips: list[str]) -> None:
        """Write ``status.loadBalancer.ingress`` of a Service (merge patch of status)."""
        body = {"status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}
        try:
            await asyncio.to_thread(
                rest.request, self.api, "PATCH",
                f"/api/v1/namespaces/{namespace}/services/{name}/status", body, rest.MERGE_PATCH)
        except ApiException as err:
            raise MemberWriteError(
                f"member {self.name!r}: status of service {namespace}/{name}: "
                f"HTTP {err.status} {err.reason}") from err
        except Exception as err:
            raise MemberWriteError(
                f"member {self.name!r}: status of service {namespace}/{name}: {err}") from err

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
            await asyncio.to_thread(rest.request, self.api, "POST",
                                    f"/api/v1/namespaces/{namespace}/events", event)
        except Exception as err:
            raise MemberWriteError(f"member {self.name!r}: event {reason}: {err}") from err
