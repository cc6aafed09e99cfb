"""The simulated EndpointSlice controller: a Service's Pods as EndpointSlices, as
``pkg/controller/endpointslice`` writes them.

For each Service with a selector, the Pods of its namespace that match it, have an
IP and have not finished become endpoints: ``addresses``, ``conditions`` (``ready``:
the Pod is Ready and not terminating, or the Service publishes not-ready addresses;
``serving``: Ready; ``terminating``: being deleted), ``nodeName``, ``zone`` (the
Node's ``topology.kubernetes.io/zone``) and ``targetRef``.  Ports come from the
Service's ``targetPort`` (a name is looked up in the Pod's container ports; a Pod
without it gets no endpoint for that port set).  Pods that resolve to the same ports
share slices of at most 100 endpoints; a Service without endpoints keeps one empty
slice.  Slices are named ``<service>-<random>``, labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``, and
owned by the Service.  Not for: the legacy Endpoints objects, dual-stack, topology
hints.
"""

from __future__ import annotations

import json
from typing import Any

from fedns.sim import meta, runtime

Obj = dict[str, Any]

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
ZONE = "topology.kubernetes.io/zone"
MAX_ENDPOINTS = 100


def selects(service: Obj | None) -> bool:
    spec = (service or {}).get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def resolve_ports(service: Obj, pod: Obj) -> tuple[Obj, ...] | None:
    """The slice ports for ``pod``; None when a named targetPort is missing from it."""
    found = []
    containers = (pod.get("spec") or {}).get("containers") or []
    for port in (service.get("spec") or {}).get("ports") or []:
        protocol = port.get("protocol", "TCP")
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            numbers = [int(p["containerPort"]) for c in containers for p in c.get("ports") or []
                       if p.get("name") == target and p.get("protocol", "TCP") == protocol]
            if not numbers:
                return None
            target = numbers[0]
        entry: Obj = {"name": port.get("name", ""), "port": int(target), "protocol": protocol}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        found.append(entry)
    return tuple(found)


def endpoint(service: Obj, pod: Obj, zone: str) -> Obj:
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    terminating = meta.deleting(pod)
    ready = meta.pod_ready(pod)
    spec = pod.get("spec") or {}
    found: Obj = {"addresses": [(pod.get("status") or {}).get("podIP")],
                  "conditions": {"ready": publish or (ready and not terminating),
                                 "serving": publish or ready, "terminating": terminating}}
    if spec.get("hostname") and spec.get("subdomain") == meta.key(service)[1]:
        found["hostname"] = spec["hostname"]
    namespace, name = meta.key(pod)
    found["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": name,
                          "uid": meta.uid(pod)}
    if spec.get("nodeName"):
        found["nodeName"] = spec["nodeName"]
    if zone:
        found["zone"] = zone
    return found


class EndpointSlices(runtime.Controller):
    name = "endpointslice"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.kind = rt.kind("endpointslices", "discovery.k8s.io")
        self.services = rt.watch("services", "", self._on_service)
        self.pods = rt.watch("pods", "", self._on_pod)
        self.nodes = rt.watch("nodes", "", self._on_node)
        self.slices = rt.watch("endpointslices", "discovery.k8s.io", self._on_slice)
        self.in_namespace: dict[str, set[meta.Key]] = {}
        self.of_service: dict[meta.Key, set[meta.Key]] = {}
        # Pods by every label; Services by one pair of their selector (a Pod without
        # that pair cannot match): events cost the matches, not the namespace's size
        self.pods_by_label = meta.PairIndex()
        self.services_by_selector = meta.PairIndex()

    def _on_service(self, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        namespace = meta.key(obj)[0]
        # only Services that select Pods: a Pod event looks at these, not at every one
        if new is None or not selects(new):
            self.in_namespace.get(namespace, set()).discard(meta.key(obj))
            self.services_by_selector.drop(meta.key(obj))
        else:
            self.in_namespace.setdefault(namespace, set()).add(meta.key(obj))
            wanted = (new.get("spec") or {}).get("selector") or {}
            self.services_by_selector.put(meta.key(obj), namespace, [min(wanted.items())])
        if new is None or selects(new) or (old is not None and selects(old)) or \
                self.of_service.get(meta.key(obj)):
            self.enqueue(meta.key(obj))

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        namespace = meta.key(obj)[0]
        if new is None:
            self.pods_by_label.drop(meta.key(obj))
        else:
            self.pods_by_label.put(meta.key(obj), namespace, meta.labels(new).items())
        pairs = [i for p in (old, new) if p is not None for i in meta.labels(p).items()]
        for k in self.services_by_selector.find(namespace, pairs):
            service = self.services.get(*k)
            if service is None or not selects(service):
                continue
            wanted = (service.get("spec") or {}).get("selector")
            if any(p is not None and meta.map_matches(wanted, meta.labels(p))
                   for p in (old, new)):
                self.enqueue(k)

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        if old is not None and new is not None and \
                meta.labels(old).get(ZONE) == meta.labels(new).get(ZONE):
            return
        for keys in list(self.in_namespace.values()):
            for k in keys:
                self.enqueue(k)

    def _on_slice(self, old: Obj | None, new: Obj | None) -> None:
        for obj in (old, new):
            if obj is None or meta.labels(obj).get(MANAGED_BY) != CONTROLLER:
                continue
            service = meta.labels(obj).get(SERVICE_NAME)
            if not service:
                continue
            k = (meta.key(obj)[0], service)
            if obj is new:
                self.of_service.setdefault(k, set()).add(meta.key(obj))
            else:
                self.of_service.get(k, set()).discard(meta.key(obj))
            self.enqueue(k)

    def desired(self, service: Obj) -> list[tuple[tuple[Obj, ...], list[Obj]]]:
        """(ports, endpoints) per slice the Service should have."""
        namespace = meta.key(service)[0]
        wanted = (service.get("spec") or {}).get("selector")
        groups: dict[str, tuple[tuple[Obj, ...], list[Obj]]] = {}
        candidates = self.pods_by_label.find(namespace, [min((wanted or {}).items())])
        for pod in sorted((p for p in (self.pods.get(*k) for k in candidates) if p is not None),
                          key=lambda p: meta.key(p)[1]):
            if not meta.map_matches(wanted, meta.labels(pod)) or \
                    meta.pod_phase(pod) in meta.TERMINAL or \
                    not (pod.get("status") or {}).get("podIP"):
                continue
            ports = resolve_ports(service, pod)
            if ports is None:
                continue
            node = self.nodes.get("", str((pod.get("spec") or {}).get("nodeName") or ""))
            zone = meta.labels(node).get(ZONE, "") if node is not None else ""
            group = groups.setdefault(json.dumps(ports, sort_keys=True), (ports, []))
            group[1].append(endpoint(service, pod, zone))
        result = []
        for ports, endpoints in groups.values():
            for start in range(0, len(endpoints), MAX_ENDPOINTS):
                result.append((ports, endpoints[start:start + MAX_ENDPOINTS]))
        return result or [((), [])]

    async def reconcile(self, k: runtime.Key) -> float | None:
        namespace, name = k[0], k[1]
        service = self.services.get(namespace, name)
        existing = [s for s in (self.slices.get(*sk) for sk in
                                sorted(self.of_service.get((namespace, name), ())))
                    if s is not None and not meta.deleting(s)]
        if service is None or not selects(service) or meta.deleting(service):
            for found in existing:
                await self.runtime.delete(self.kind, found)
            return None
        families = (service.get("spec") or {}).get("ipFamilies") or ["IPv4"]
        labels = dict(meta.labels(service), **{SERVICE_NAME: name, MANAGED_BY: CONTROLLER})
        labels.pop("service.kubernetes.io/headless", None)
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        for ports, endpoints in self.desired(service):
            body = {"addressType": families[0], "endpoints": endpoints, "ports": list(ports)}
            current = existing.pop(0) if existing else None
            if current is not None and current.get("addressType") != families[0]:
                await self.runtime.delete(self.kind, current)  # immutable: make a new one
                current = None
            if current is None:
                await self.runtime.create(self.kind, {
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": f"{name}-", "namespace": namespace,
                                 "labels": dict(labels),
                                 "ownerReferences": [meta.owner_ref(service)]},
                    **body})
            elif any(current.get(f) != v for f, v in body.items()) or \
                    meta.labels(current) != labels:
                changed = dict(current, **body)
                changed["metadata"] = dict(meta.meta(current), labels=labels)
                await self.runtime.update(self.kind, changed)
        for extra in existing:
            await self.runtime.delete(self.kind, extra)
        return None
