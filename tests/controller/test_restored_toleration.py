"""The NotReady clock outlives a restart: a fresh placer (a restarted ``fedns run``, a
new leader) counts a NotReady member's toleration from its stored ``Member`` object's
``Ready=False`` condition, converted from the wall clock to its own, when that is
earlier than its own sighting; a stored Ready=True, no condition, an unreadable or
future time, a member not probed yet, or one this placer saw Ready: the clock in
memory.  Fake clocks, fake members, the endpoint's kapi storage over a memory Store."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fedns import kinds as fedns_kinds
from fedns import placements, templates
from fedns.controller import conditions, placing
from fedns.kapi import registry, storage
from fedns.store import memory
from tests.controller.test_placing import placement_obj
from tests.controller.test_propagation import FakeMember, deployment

DEPLOY = ("apps/Deployment", "default", "web")
TOLERATION = 300
SPEC: dict[str, Any] = {"members": [{"names": ["east", "north"]}],
        "division": {"type": "Divided", "weights": {"east": 2, "north": 1}},
        "failover": {"tolerationSeconds": TOLERATION}}
PLACED = {"east": 4, "north": 2}
FAILED_OVER = {"north": 6}


class Clocks:
    """The placer's monotonic clock and the wall clock, moving together."""

    def __init__(self) -> None:
        self.mono, self.wall = 1000.0, 1_796_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


class Unprobed:
    probes = 0
    last_error = ""


def member_obj(name: str, status: str | None = None, since: str = "") -> dict[str, Any]:
    ready = [] if status is None else [{"type": "Ready", "status": status,
                                        "reason": "ProbeFailed", "message": "refused",
                                        "lastTransitionTime": since}]
    return {"apiVersion": "fedns.io/v1alpha1", "kind": "Member",
            "metadata": {"name": name}, "spec": {}, "status": {"conditions": ready}}


@pytest.fixture
async def st() -> storage.Storage:
    s = storage.Storage(memory.MemoryStore("memory://"), registry.Registry(
        [*templates.kinds(), fedns_kinds.MEMBERS, *placements.KINDS]))
    await templates.seed(s)
    await s.create(placements.PLACEMENTS, "default", placement_obj(**SPEC))
    return s


async def store_member(st: storage.Storage, obj: dict[str, Any]) -> None:
    name = obj["metadata"]["name"]
    created = await st.create(fedns_kinds.MEMBERS, "", copy.deepcopy(obj))
    created["status"] = obj["status"]
    await st.update(fedns_kinds.MEMBERS, "", name, created, subresource="status")


async def placed_before(st: storage.Storage, clocks: Clocks) -> dict[str, Any]:
    """The template as the process before left it: its decision with every member Ready."""
    members = {n: FakeMember(n) for n in ("east", "north")}
    old = placing.Placer(st, members, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    template = deployment(6)
    plan = await old.plan(DEPLOY, template)
    assert dict(plan.decision.replicas) == PLACED
    template["metadata"]["annotations"][placing.ANNOTATION] = plan.record
    return template


def ago(clocks: Clocks, seconds: float) -> str:
    return conditions.to_rfc3339(clocks.wall - seconds)


# (stored Ready status, its age in seconds (negative: in the future) or a text, east
#  probed, east seen Ready by this placer first, seconds of toleration left)
CASES = [
    pytest.param("False", 200, True, False, 100, id="stored-false-200s-ago-fails-at-100s"),
    pytest.param("False", 10 * TOLERATION, True, False, 0, id="stored-false-long-ago-at-once"),
    pytest.param("True", 200, True, False, TOLERATION, id="stored-true-memory-only"),
    pytest.param(None, 0, True, False, TOLERATION, id="no-condition-memory-only"),
    pytest.param("Unknown", 200, True, False, TOLERATION, id="stored-unknown-memory-only"),
    pytest.param("False", -500, True, False, TOLERATION, id="future-time-clamped-to-now"),
    pytest.param("False", "yesterday", True, False, TOLERATION, id="unreadable-time-ignored"),
    pytest.param("False", 200, False, False, TOLERATION, id="not-probed-yet-memory-only"),
    pytest.param("False", 200, True, True, TOLERATION, id="seen-ready-here-memory-only"),
]


@pytest.mark.parametrize("status, age, probed, seen_ready, left", CASES)
async def test_a_fresh_placer_counts_the_toleration_from_the_stored_condition(
        st, status, age, probed, seen_ready, left):
    clocks = Clocks()
    template = await placed_before(st, clocks)
    since = age if isinstance(age, str) else ago(clocks, age)
    await store_member(st, member_obj("east", status, since))
    await store_member(st, member_obj("north", "True", ago(clocks, 3600)))

    members = {n: FakeMember(n) for n in ("east", "north")}
    if not probed:
        members["east"].probe = Unprobed()
    placer = placing.Placer(st, members, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    if seen_ready:
        placer.observe()  # east Ready here first: the stored False is from before
    members["east"].ready = False
    placer.observe()

    plan = await placer.plan(DEPLOY, template)
    if left == 0:
        assert dict(plan.decision.replicas) == FAILED_OVER, "failed over at once"
        assert list(plan.decision.failed_over) == ["east"]
        return
    assert dict(plan.decision.replicas) == PLACED, "within the toleration: kept"
    assert left - 1 < plan.requeue_after <= left, "looked at again when it ends"

    clocks.advance(left - 1)
    assert dict((await placer.plan(DEPLOY, template)).decision.replicas) == PLACED
    clocks.advance(1.5)
    plan = await placer.plan(DEPLOY, template)
    assert dict(plan.decision.replicas) == FAILED_OVER, f"failed over after {left} s"
    assert list(plan.decision.failed_over) == ["east"]


async def test_a_member_back_and_down_again_starts_a_new_clock(st):
    """The stored False listed at the start is history once this placer saw the member
    back: going down again starts the toleration afresh."""
    clocks = Clocks()
    template = await placed_before(st, clocks)
    await store_member(st, member_obj("east", "False", ago(clocks, 200)))
    members = {n: FakeMember(n) for n in ("east", "north")}
    placer = placing.Placer(st, members, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    members["east"].ready = False
    assert (await placer.plan(DEPLOY, template)).requeue_after == pytest.approx(100)
    members["east"].ready = True
    placer.observe()
    clocks.advance(50)
    members["east"].ready = False
    placer.observe()
    plan = await placer.plan(DEPLOY, template)
    assert dict(plan.decision.replicas) == PLACED
    assert plan.requeue_after == pytest.approx(TOLERATION)


async def test_a_new_leader_reads_the_condition_afresh(st):
    """A replica that followed while the member went down, then leads: its relist drops
    what it had listed, and the stored time counts."""
    clocks = Clocks()
    template = await placed_before(st, clocks)
    members = {n: FakeMember(n) for n in ("east", "north")}
    members["east"].ready = False
    placer = placing.Placer(st, members, clock=lambda: clocks.mono, wall=lambda: clocks.wall)
    assert (await placer.plan(DEPLOY, template)).requeue_after == pytest.approx(TOLERATION)
    clocks.advance(10)
    # meanwhile the old leader had written since when it saw east NotReady
    await store_member(st, member_obj("east", "False", ago(clocks, 250)))
    placer.forget()  # what Runtime.lead's relist does at the start of a term
    plan = await placer.plan(DEPLOY, template)
    assert plan.requeue_after == pytest.approx(TOLERATION - 250)


@pytest.mark.parametrize("text, wall", [
    ("2026-12-06T06:07:08Z", 1796537228.0),
    ("2026-12-06T06:07:08.5Z", 1796537228.5),
    ("2026-12-06T07:07:08+01:00", 1796537228.0),
    ("2026-12-06T06:07:08", None),
    ("soon", None),
    ("", None),
], ids=["z", "fraction", "offset", "no-zone", "not-a-time", "empty"])
def test_rfc3339_times_read_back(text, wall):
    assert conditions.from_rfc3339(text) == wall
    if wall is not None and wall == int(wall):
        assert conditions.from_rfc3339(conditions.to_rfc3339(wall)) == wall


@pytest.mark.parametrize("since, expected", [
    (1000.0, 800.0), (1100.0, 900.0), (5000.0, 900.0)],
    ids=["past", "now", "future-clamped"])
def test_to_clock_goes_back_the_same_distance_never_past_now(since, expected):
    assert conditions.to_clock(since, wall_now=1100.0, clock_now=900.0) == expected

