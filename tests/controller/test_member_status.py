"""The status controller's ``Member`` objects carry a ``Ready`` condition by Kubernetes'
convention: ``lastTransitionTime`` is when the health flipped and stays while the status
does (a new message, a rewrite, a restarted controller keep it); until a process has
probed a member the stored condition stands.  Fake members, the endpoint's kapi storage
over a memory Store, a fake wall clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fedns import kinds
from fedns.controller import conditions, runtime, status, view
from fedns.kapi import registry, storage
from fedns.store import memory
from placement import topology

T0 = 1_796_000_000.0


@dataclasses.dataclass
class Probe:
    probes: int = 1
    last_error: str = ""
    latency: float = 0.01
    path: str = "/readyz"


@dataclasses.dataclass
class Spec:
    site_name: str = "east"
    ipam: str = "managed"


class Member:
    def __init__(self, name: str, ready: bool = True, probes: int = 1) -> None:
        self.name, self.ready = name, ready
        self.spec = Spec(site_name=name)
        self.probe = Probe(probes=probes)
        self.services: dict[str, Any] = {}

    def synced(self) -> bool:
        return True

    def topology(self) -> topology.Location:
        return topology.Location(self.name, self.name, "r1", "z1")


class Wall:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def st() -> storage.Storage:
    return storage.Storage(memory.MemoryStore("memory://"),
                           registry.Registry([kinds.MEMBERS, kinds.FEDERATED_SERVICES]))


def controller(st: storage.Storage, members: dict[str, Member], wall: Wall
               ) -> status.StatusController:
    fleet = view.View(members)  # type: ignore[arg-type]
    return status.StatusController(st, fleet, "fed", "example.org", wall=wall)


async def ready_condition(st: storage.Storage, name: str = "east") -> dict[str, Any]:
    obj = await st.get(kinds.MEMBERS, "", name)
    found = conditions.find(obj["status"].get("conditions"), "Ready")
    assert found is not None
    return found


def at(offset: float) -> str:
    return conditions.to_rfc3339(T0 + offset)


async def test_ready_false_is_written_at_the_flip_and_kept_while_it_holds(st):
    wall = Wall()
    members = {"east": Member("east")}
    ctl = controller(st, members, wall)
    await ctl.reconcile(("Member", "east"))
    assert (await ready_condition(st)) == {
        "type": "Ready", "status": "True", "reason": "ProbeSucceeded",
        "message": "/readyz answered", "lastTransitionTime": at(0)}

    wall.now += 10
    members["east"].ready = False
    members["east"].probe.last_error = "connection refused"
    ctl.map(runtime.HealthEvent("east", False))  # the flip: its time is the transition's
    wall.now += 4  # the write comes later (the status controller waits its turn)
    await ctl.reconcile(("Member", "east"))
    found = await ready_condition(st)
    assert (found["status"], found["reason"], found["message"]) == (
        "False", "ProbeFailed", "connection refused")
    assert found["lastTransitionTime"] == at(10)

    wall.now += 60
    members["east"].probe.last_error = "timed out"
    await ctl.reconcile(("Member", "east"))
    found = await ready_condition(st)
    assert found["message"] == "timed out", "the message follows the probe"
    assert found["lastTransitionTime"] == at(10), "the status held: the time stays"

    wall.now += 5
    members["east"].ready = True
    ctl.map(runtime.HealthEvent("east", True))
    await ctl.reconcile(("Member", "east"))
    found = await ready_condition(st)
    assert (found["status"], found["lastTransitionTime"]) == ("True", at(79))


@pytest.mark.parametrize("stored, ready, probes, expected", [
    pytest.param(("False", -300), False, 3, ("False", -300), id="still-down-keeps-the-time"),
    pytest.param(("False", -300), True, 1, ("True", 0), id="back-moves-the-time"),
    pytest.param(("True", -300), False, 3, ("False", 0), id="down-moves-the-time"),
    pytest.param(("False", -300), False, 0, ("False", -300), id="not-probed-keeps-stored"),
    pytest.param(("True", -300), False, 0, ("True", -300), id="not-probed-keeps-stored-true"),
    pytest.param(None, False, 0, ("Unknown", 0), id="not-probed-nothing-stored-unknown"),
])
async def test_a_restarted_controller_keeps_what_still_holds(st, stored, ready, probes,
                                                             expected):
    """A new process (no flip seen) over the Member object the last one wrote."""
    wall = Wall()
    if stored is not None:
        old = {"east": Member("east", ready=stored[0] == "True")}
        old_wall = Wall()
        old_wall.now = T0 + stored[1]
        await controller(st, old, old_wall).reconcile(("Member", "east"))
    members = {"east": Member("east", ready=ready, probes=probes)}
    await controller(st, members, wall).reconcile(("Member", "east"))
    found = await ready_condition(st)
    assert (found["status"], found["lastTransitionTime"]) == (expected[0], at(expected[1]))
    obj = await st.get(kinds.MEMBERS, "", "east")
    assert conditions.false_since(obj) == (T0 + expected[1] if expected[0] == "False"
                                           else None)
