"""Simulated members in process for the member-access tests."""

from __future__ import annotations

import pytest

from fedns.kapi import builtin
from fedns.sim import cluster

REG = builtin.registry()
SERVICES = REG.lookup("", "v1", "services")
SLICES = REG.lookup("discovery.k8s.io", "v1", "endpointslices")
EVENTS = REG.lookup("", "v1", "events")


def lb_service(name: str, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]}}


@pytest.fixture
async def sim(tmp_path):
    """Two simulated members and a kubeconfig naming both (token, so HTTPS)."""
    specs = cluster.parse_members("umich:us-east:us-east-1,ucsd:us-west:us-west-2")
    members = await cluster.start_members(specs, token="t0ken")
    await cluster.wait_ready(members)
    path = str(tmp_path / "kubeconfig")
    cluster.write_kubeconfig(members, path, token="t0ken")
    try:
        yield members, path
    finally:
        await cluster.stop_members(members)
