"""One member cluster: a kubeconfig context, its informers, its health probe, its writes.

A member is reached exactly as kubectl reaches it (the same kubeconfig file and
context), over one aiohttp session on the event loop (:mod:`transport`).  The member
always follows Services, EndpointSlices, Nodes and Namespaces into local caches and
probes the API server's health; :meth:`Member.follow` adds an informer for any other
resource (cluster-wide or one namespace, optionally a label selector) at any time.
Every change reaches ``on_change(source, key, obj, old)`` with ``source`` =
``member/Kind``.  Writes: :meth:`Member.set_ingress` and :meth:`Member.record_event`
for the Service controller, and generic :meth:`Member.apply` / :meth:`Member.delete`
/ :meth:`Member.get` of fedns-managed objects (:mod:`objects`).  Constructing a
Member only reads the kubeconfig (a bad one raises MemberConfigError there);
``start()`` opens the connection in the running loop, ``stop()`` closes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Any

from fedns import errors
from fedns.members import health, informer, kinds, objects, transport
from placement import topology

# followed in every member, cluster-wide, from construction on
WATCHED = (kinds.SERVICE, kinds.ENDPOINT_SLICE, kinds.NODE, kinds.NAMESPACE)
KINDS = tuple(resource.kind for resource in WATCHED)
# set on every namespace by the API server (Kubernetes >= 1.21), so selectors may use it
NAME_LABEL = "kubernetes.io/metadata.name"

# the write errors live with the generic writes; these names are the ones callers use
MemberWriteError = objects.MemberWriteError
ObjectGone = objects.ObjectGone
WriteConflict = objects.WriteConflict
Rejected = objects.Rejected
NotManaged = objects.NotManaged
UnknownKind = objects.UnknownKind
MemberReadError = objects.MemberReadError


class MemberConfigError(errors.UsageError):
    """The member's kubeconfig or context cannot be used."""


class AlreadyFollowed(errors.UsageError):
    """Another resource of the same kind is already followed under that informer name."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """What one informer follows: a resource, in one namespace or all (""), with a
    label selector or none ("")."""

    resource: kinds.Resource
    namespace: str = ""
    label_selector: str = ""

    @property
    def name(self) -> str:
        """The key in :attr:`Member.informers`: the kind alone for a cluster-wide,
        unfiltered informer (``"Service"``), else e.g. ``"ConfigMap ns=web"`` or
        ``"Deployment selector=app.kubernetes.io/managed-by=fedns"``."""
        parts = [self.resource.kind]
        if self.namespace:
            parts.append(f"ns={self.namespace}")
        if self.label_selector:
            parts.append(f"selector={self.label_selector}")
        return " ".join(parts)


_ALWAYS = frozenset(Scope(resource) for resource in WATCHED)

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

        self.objects = objects.Objects(self.name, self.transport)
        self._on_change = on_change
        self.informers: dict[str, informer.Informer] = {}
        self._scopes: dict[str, Scope] = {}
        self._handlers: dict[str, list[informer.OnChange]] = {}
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._probe_run: asyncio.Task[None] | None = None
        self._started = False
        for resource in WATCHED:
            self._add(Scope(resource), on_change)
        self.probe = health.Probe(
            self.transport, interval=probe_interval,
            on_flip=lambda ready: on_health(self.name, ready) if on_health else None)

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
        """The four always-watched kinds have listed once.  A followed informer has its
        own ``synced`` event: a kind one controller follows (and the member may not
        even let fedns list) does not hold up the others."""
        return all(self.informers[scope.name].synced.is_set() for scope in _ALWAYS)

    def topology(self) -> topology.Location:
        """Where the member sits: its config, else its Nodes' labels (raises
        :class:`placement.topology.TopologyUnknown`)."""
        return topology.resolve(self.name, self.nodes.values(), site=self.spec.site,
                                region=self.spec.region, zone=self.spec.zone)

    @property
    def _tasks(self) -> list[asyncio.Task[None]]:
        return [*self._runs.values(), *([self._probe_run] if self._probe_run else [])]

    async def start(self) -> None:
        await self.transport.start()
        self._started = True
        for name in self.informers:
            self._run(name)
        self._probe_run = asyncio.create_task(self.probe.run(), name=f"{self.name}-probe")

    async def stop(self) -> None:
        self._started = False
        for inf in self.informers.values():
            inf.stop()
        tasks = self._tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runs, self._probe_run = {}, None
        await self.transport.close()

    # -- informers -----------------------------------------------------------

    def _run(self, name: str) -> None:
        self._runs[name] = asyncio.create_task(self.informers[name].run(),
                                               name=f"{self.name}-{name}")

    def _add(self, scope: Scope, on_change: informer.OnChange | None,
             transform: informer.Transform | None = None) -> informer.Informer:
        name = scope.name
        handlers = self._handlers[name] = []

        def dispatch(kind: str, key: str, obj: Any, old: Any) -> None:
            source = f"{self.name}/{kind}"
            for handler in handlers:
                handler(source, key, obj, old)

        if on_change is not None:
            handlers.append(on_change)
        inf = informer.Informer(scope.resource.kind, scope.resource.path(scope.namespace),
                                self.transport, dispatch, label_selector=scope.label_selector,
                                transform=transform)
        self.informers[name], self._scopes[name] = inf, scope
        return inf

    async def follow(self, resource: kinds.Resource, *, namespace: str = "",
                     label_selector: str = "",
                     on_change: informer.OnChange | None = None,
                     transform: informer.Transform | None = None) -> informer.Informer:
        """Follow ``resource`` (in ``namespace``, or every namespace when "", narrowed
        by ``label_selector``) into a cache of its own; returns its informer, running
        when the member is started (wait on ``informer.synced`` for its first list).

        Changes go to ``on_change`` (the member's own ``on_change`` when None), with
        ``source`` = ``member/Kind``.  Following the same scope again adds the handler
        (once) and replays the cache to it as additions, so a late subscriber sees
        what earlier ones saw.  ``transform`` trims each object before it is cached
        (:class:`informer.Informer`); the first follow of a scope sets it."""
        scope = Scope(resource, namespace, label_selector)
        resource.path(namespace)  # a namespace for a cluster-scoped kind: ValueError
        handler = on_change if on_change is not None else self._on_change
        name = scope.name
        existing = self._scopes.get(name)
        if existing is None:
            inf = self._add(scope, handler, transform)
            if self._started:
                self._run(name)
            return inf
        if existing != scope:
            raise AlreadyFollowed(
                f"member {self.name!r}: informer {name!r} already follows "
                f"{existing.resource.api_version} {existing.resource.plural}, "
                f"not {resource.api_version} {resource.plural}")
        inf = self.informers[name]
        handlers = self._handlers[name]
        if handler is not None and handler not in handlers:
            handlers.append(handler)
            source = f"{self.name}/{resource.kind}"
            for key, obj in list(inf.cache.items()):
                handler(source, key, obj, None)
        return inf

    async def unfollow(self, resource: kinds.Resource, *, namespace: str = "",
                       label_selector: str = "") -> None:
        """Stop following a scope :meth:`follow` added (its cache goes with it); a
        scope not followed is a no-op."""
        scope = Scope(resource, namespace, label_selector)
        name = scope.name
        if self._scopes.get(name) != scope or scope in _ALWAYS:
            return  # never followed, or one of the four the member always watches
        inf = self.informers.pop(name)
        del self._scopes[name], self._handlers[name]
        inf.stop()
        task = self._runs.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- generic objects (fedns-managed only; see objects) ---------------------

    async def get(self, resource: kinds.Resource, namespace: str, name: str
                  ) -> dict[str, Any] | None:
        """The object as the member stores it, or None (MemberReadError on failure)."""
        return await self.objects.get(resource, namespace, name)

    async def apply(self, obj: dict[str, Any], *, resource: kinds.Resource | None = None,
                    field_manager: str = objects.FIELD_MANAGER, force: bool = True,
                    adopt: bool = False, checked: bool = False) -> dict[str, Any]:
        """Server-side apply ``obj`` with the managed-by label; the stored object
        (see :meth:`objects.Objects.apply`)."""
        return await self.objects.apply(obj, resource=resource, field_manager=field_manager,
                                        force=force, adopt=adopt, checked=checked)

    async def delete(self, resource: kinds.Resource, namespace: str, name: str, *,
                     propagation: str = "Background", only_if_managed: bool = True) -> bool:
        """Delete a fedns-managed object; False when it was gone already (see
        :meth:`objects.Objects.delete`)."""
        return await self.objects.delete(resource, namespace, name, propagation=propagation,
                                         only_if_managed=only_if_managed)

    async def resource_for(self, api_version: str, kind: str) -> kinds.Resource:
        """The resource of ``apiVersion``/``kind`` on this member (well-known or
        discovered)."""
        return await self.objects.resource_for(api_version, kind)

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
