"""Ways to make trouble in a simulated member, for tests and the demo.

Each is a write through the member's Storage that the simulated controllers then act
on, as they would on the same event in a real cluster:

- :func:`set_node_ready` — the Node's Ready condition goes Unknown (reason
  NodeStatusUnknown, "Kubelet stopped posting node status.") with the
  ``node.kubernetes.io/unreachable`` NoSchedule and NoExecute taints, as the node
  lifecycle controller writes them; its Pods turn not Ready (so they leave the
  EndpointSlices' ready endpoints) and nothing new is scheduled there.  Ready again
  undoes both.
- :func:`set_node_capacity` — new ``capacity`` and ``allocatable``; Pods that did not
  fit are tried again.
- :func:`set_pod_ready` / :func:`fail_pod` — the ``sim.fedns.io/ready`` and
  ``sim.fedns.io/phase`` annotations the simulated kubelet honours.

Stopping and starting a member's API is :meth:`fedns.sim.cluster.Member.stop` /
``start``.  Not for: anything a client could not also do through the API.
"""

from __future__ import annotations

from typing import Any

from fedns.kapi import objects, status, storage
from fedns.sim import kubelet, meta

Obj = dict[str, Any]

UNREACHABLE = "node.kubernetes.io/unreachable"
_ATTEMPTS = 8


def _kind(store: storage.Storage, plural: str) -> Any:
    found = store.registry.lookup("", "v1", plural)
    assert found is not None
    return found


async def set_node_ready(store: storage.Storage, node: str, ready: bool) -> Obj:
    kind = _kind(store, "nodes")
    for _ in range(_ATTEMPTS):
        current = await store.get(kind, "", node)
        now = objects.timestamp()
        state = dict(current.get("status") or {})
        if ready:
            state["conditions"] = meta.set_condition(
                state.get("conditions") or [], "Ready", "True", "KubeletReady",
                "kubelet is posting ready status", now, heartbeat="lastHeartbeatTime")
        else:
            state["conditions"] = meta.set_condition(
                state.get("conditions") or [], "Ready", "Unknown", "NodeStatusUnknown",
                "Kubelet stopped posting node status.", now, heartbeat="lastHeartbeatTime")
        taints = [t for t in (current.get("spec") or {}).get("taints") or []
                  if t.get("key") != UNREACHABLE]
        if not ready:
            taints += [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now},
                       {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now}]
        spec = dict(current.get("spec") or {})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        try:
            updated = await store.update(kind, "", node, dict(current, spec=spec))
            return await store.update(kind, "", node, dict(updated, status=state),
                                      subresource="status")
        except status.ApiError as err:
            if err.code != 409:
                raise
    raise status.conflict("nodes", "", node)


async def set_node_capacity(store: storage.Storage, node: str, resources: dict[str, str]
                            ) -> Obj:
    """Set ``cpu``, ``memory`` and/or ``pods`` in the Node's capacity and allocatable."""
    unknown = sorted(set(resources) - {"cpu", "memory", "pods"})
    if unknown:
        raise status.bad_request(f"unknown resource {unknown[0]!r}: expected cpu, memory "
                                 "or pods")
    kind = _kind(store, "nodes")
    for _ in range(_ATTEMPTS):
        current = await store.get(kind, "", node)
        state = dict(current.get("status") or {})
        for field in ("capacity", "allocatable"):
            state[field] = dict(state.get(field) or {}, **{k: str(v)
                                                           for k, v in resources.items()})
        try:
            return await store.update(kind, "", node, dict(current, status=state),
                                      subresource="status")
        except status.ApiError as err:
            if err.code != 409:
                raise
    raise status.conflict("nodes", "", node)


async def _annotate(store: storage.Storage, namespace: str, pod: str, key: str,
                    value: str) -> Obj:
    kind = _kind(store, "pods")
    return await store.patch(kind, namespace, pod, storage.MERGE_PATCH,
                             {"metadata": {"annotations": {key: value}}})


async def set_pod_ready(store: storage.Storage, namespace: str, pod: str,
                        ready: bool) -> Obj:
    """Make the Pod's readiness probe fail (``ready=False``) or pass again."""
    return await _annotate(store, namespace, pod, kubelet.READY, "true" if ready else "false")


async def fail_pod(store: storage.Storage, namespace: str, pod: str) -> Obj:
    """End the Pod as Failed (its container exits 1)."""
    return await _annotate(store, namespace, pod, kubelet.PHASE, "Failed")
