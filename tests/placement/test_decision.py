"""Placement decisions: stickiness, capacity, preference groups, spread and failover."""

from __future__ import annotations

import json

import pytest

from placement import decision, members, policy
from placement.decision import Decision

M = members.MemberInfo
KEY = "apps/v1/Deployment/shop/web"


def divided(weights=None, toleration=300, recovery=False, groups=policy.EVERY_MEMBER,
            spread=(), **terms):
    t = {name: policy.Terms(*v) for name, v in (terms or {}).items()}
    for name, w in (weights or {}).items():
        t[name] = policy.Terms(w)
    return policy.Policy(name="p", groups=groups, spread=spread,
                         division=policy.Division(policy.DIVIDED, t),
                         failover=policy.Failover(toleration, recovery))


def down(name, since, **kw):
    return M(name, ready=False, not_ready_since=since, **kw)


ABC = [M("a"), M("b"), M("c")]


def test_duplicated_and_kinds_without_replicas():
    dup = policy.Policy(name="p")
    d = decision.decide(dup, ABC, KEY, 3, now=0)
    assert d.members == ("a", "b", "c") and d.replicas == {"a": 3, "b": 3, "c": 3}
    cm = decision.decide(dup, ABC, "v1/ConfigMap/shop/cfg", None, now=0)
    assert cm.members == ("a", "b", "c") and cm.replicas == {}
    # Divided without a replica count: every chosen member gets a copy
    assert decision.decide(divided(), ABC, KEY, None, now=0).members == ("a", "b", "c")


def test_divided_members_with_nothing_get_no_copy():
    d = decision.decide(divided(), ABC, KEY, 2, now=0)
    assert sum(d.replicas.values()) == 2 and len(d.members) == 2
    assert set(d.members) == set(d.replicas)


def test_scaling_keeps_running_replicas_in_place():
    first = decision.decide(divided({"a": 5, "b": 3, "c": 2}), ABC, KEY, 6, now=0)
    assert first.replicas == {"a": 3, "b": 2, "c": 1}
    up = decision.decide(divided({"a": 5, "b": 3, "c": 2}), ABC, KEY, 7, now=1, previous=first)
    assert up.replicas == {"a": 4, "b": 2, "c": 1}
    # a policy change alone moves nothing; an explicit rebalance re-divides
    flat = divided()
    same = decision.decide(flat, ABC, KEY, 7, now=2, previous=up)
    assert same.replicas == up.replicas
    again = decision.decide(flat, ABC, KEY, 7, now=2, previous=up, rebalance=True)
    assert sorted(again.replicas.values()) == [2, 2, 3]
    # v1's "rebalance": true re-divides every time
    v1 = policy.Policy(name="p", division=policy.Division(policy.DIVIDED, {}, rebalance=True))
    assert sorted(decision.decide(v1, ABC, KEY, 7, now=2, previous=up).replicas.values()) == [
        2, 2, 3]


def test_a_member_whose_pods_stay_pending_gets_only_what_it_runs():
    first = decision.decide(divided(), ABC, KEY, 9, now=0)
    assert first.replicas == {"a": 3, "b": 3, "c": 3}
    cap = decision.capacity_from_pods(first.replicas, {"a": 2, "b": 0})
    assert cap == {"a": 1}
    d = decision.decide(divided(), ABC, KEY, 9, now=1, previous=first, capacity=cap)
    assert d.replicas["a"] == 1 and sum(d.replicas.values()) == 9 and d.reason == ""


def test_notready_within_toleration_keeps_but_gets_nothing_new():
    first = decision.decide(divided(), ABC, KEY, 6, now=0)
    fleet = [down("a", since=100), M("b"), M("c")]
    d = decision.decide(divided(), fleet, KEY, 12, now=399, previous=first)
    assert d.replicas == {"a": 2, "b": 5, "c": 5}
    assert d.withdrawing == {} and d.failed_over == ()


def test_failover_moves_replicas_and_keeps_the_old_copy_until_withdrawn():
    first = decision.decide(divided(), ABC, KEY, 6, now=0)
    fleet = [down("a", since=100), M("b"), M("c")]
    d = decision.decide(divided(), fleet, KEY, 6, now=400, previous=first)
    assert d.replicas == {"b": 3, "c": 3} and d.members == ("b", "c")
    assert d.withdrawing == {"a": 2} and d.failed_over == ("a",) and d.reason == ""
    # the old copy stays listed, decision after decision, until the caller withdrew it
    later = decision.decide(divided(), fleet, KEY, 6, now=9000, previous=d)
    assert later.withdrawing == {"a": 2}
    assert decision.withdrawn(later, "a").withdrawing == {}


def test_notready_without_a_time_has_failed():
    first = decision.decide(divided(), ABC, KEY, 6, now=0)
    fleet = [M("a", ready=False), M("b"), M("c")]
    assert decision.decide(divided(), fleet, KEY, 6, now=0, previous=first).failed_over == ("a",)


def test_when_nothing_fits_nothing_is_evicted():
    first = decision.decide(divided(), ABC, KEY, 6, now=0)
    fleet = [down("a", 0), down("b", 0), down("c", 0)]
    d = decision.decide(divided(), fleet, KEY, 6, now=1000, previous=first)
    assert d.replicas == first.replicas and d.withdrawing == {}
    assert d.reason == ("no member group fits, nothing moved: group all: selects no member "
                        "that has not failed (3 failed)")
    empty = decision.decide(divided(), fleet, KEY, 6, now=1000)
    assert empty.members == () and "no member group fits" in empty.reason


def test_what_the_others_cannot_run_stays_on_the_failed_member():
    pol = divided(b=(1, 0, 3), c=(1, 0, 3))
    first = decision.decide(pol, ABC, KEY, 9, now=0)
    assert first.replicas == {"a": 3, "b": 3, "c": 3}
    pol = divided(b=(1, 0, 4), c=(1, 0, 4))
    d = decision.decide(pol, [down("a", 0), M("b"), M("c")], KEY, 9, now=1000, previous=first)
    assert d.replicas == {"a": 1, "b": 4, "c": 4} and d.unplaced == 0
    assert d.failed_over == ("a",) and d.withdrawing == {}
    assert d.reason == ("member a has failed but no other member can run 1 of its 3 replicas: "
                        "kept there")


def test_unplaceable_replicas_are_counted():
    d = decision.decide(divided(a=(1, 0, 2), b=(0, 1, None)), [M("a"), M("b")], KEY, 5, now=0)
    assert d.replicas == {"a": 2, "b": 1} and d.unplaced == 2
    assert d.reason.startswith("2 of 5 replicas fit nowhere: the members of group all can run 3")


@pytest.mark.parametrize("recovery,expected", [
    (False, {"b": 3, "c": 3}),
    (True, {"a": 2, "b": 2, "c": 2}),
], ids=["stays", "moves-back"])
def test_recovery_moves_back_only_when_asked(recovery, expected):
    pol = divided(recovery=recovery)
    first = decision.decide(pol, ABC, KEY, 6, now=0)
    failed = decision.decide(pol, [down("a", 0), M("b"), M("c")], KEY, 6, now=400,
                             previous=first)
    back = decision.decide(pol, ABC, KEY, 6, now=500, previous=failed)
    assert back.replicas == expected and back.failed_over == ()
    # the recovered member's old copy: withdrawn when not wanted, reused when it is
    assert back.withdrawing == ({} if recovery else {"a": 2})


def test_duplicated_failover_and_return():
    pol = policy.Policy(name="p")
    first = decision.decide(pol, ABC, KEY, 2, now=0)
    failed = decision.decide(pol, [down("a", 0), M("b"), M("c")], KEY, 2, now=400,
                             previous=first)
    assert failed.members == ("b", "c") and failed.withdrawing == {"a": 2}
    back = decision.decide(pol, ABC, KEY, 2, now=500, previous=failed)
    assert back.members == ("a", "b", "c") and back.withdrawing == {}


GROUPS = (members.MemberGroup("primary", names=("a", "b")),
          members.MemberGroup("backup", names=("c",)))


@pytest.mark.parametrize("recovery,group", [(False, "backup"), (True, "primary")],
                         ids=["stays-on-backup", "back-to-primary"])
def test_preference_groups(recovery, group):
    pol = divided(groups=GROUPS, recovery=recovery)
    first = decision.decide(pol, ABC, KEY, 4, now=0)
    assert first.group == "primary" and first.replicas == {"a": 2, "b": 2}
    fleet = [down("a", 0), down("b", 0), M("c")]
    failed = decision.decide(pol, fleet, KEY, 4, now=400, previous=first)
    assert failed.group == "backup" and failed.replicas == {"c": 4}
    assert failed.withdrawing == {"a": 2, "b": 2} and failed.failed_over == ("a", "b")
    back = decision.decide(pol, ABC, KEY, 4, now=500, previous=failed)
    assert back.group == group


def test_spread_minimum_falls_back_to_the_next_group():
    fleet = [M("a", region="east"), M("b", region="east"), M("c", region="west")]
    groups = (members.MemberGroup("two-east", names=("a", "b")),
              members.MemberGroup("everyone"))
    pol = divided(groups=groups, spread=(members.Spread("region", 2),))
    d = decision.decide(pol, fleet, KEY, 4, now=0)
    assert d.group == "everyone" and set(d.members) == {"a", "b", "c"}
    lonely = divided(groups=groups[:1], spread=(members.Spread("region", 2),))
    assert decision.decide(lonely, fleet, KEY, 4, now=0).reason == (
        "no member group fits, nothing moved: group two-east: needs at least 2 regions, "
        "has 1 (east)")


def test_spread_maximum_keeps_the_regions_that_run_replicas():
    fleet = [M("a", region="east"), M("b", region="west"), M("c", region="north")]
    pol = divided(spread=(members.Spread("region", 1, 2),))
    first = decision.decide(pol, fleet, KEY, 4, now=0)
    assert len(first.members) == 2
    # scaling and new members never move the object to another pair of regions
    more = [*fleet, M("d", region="south"), M("e", region="south")]
    later = decision.decide(pol, more, KEY, 8, now=1, previous=first)
    assert set(later.members) == set(first.members)


def test_same_inputs_same_decision():
    fleet = [down("a", 10), M("b", region="x"), M("c", zone="z")]
    runs = {json.dumps(decision.to_dict(decision.decide(divided(), fleet, KEY, 7, now=500)))
            for _ in range(3)}
    assert len(runs) == 1


def test_decision_round_trips_and_bad_records_are_one_line():
    d = Decision("primary", ("b", "c"), {"b": 3, "c": 3}, {"a": 2}, ("a",), 1, "why")
    assert decision.from_dict(json.loads(json.dumps(decision.to_dict(d)))) == d
    assert decision.from_dict({}) == Decision()
    with pytest.raises(decision.RecordInvalid, match="replicas must map member names"):
        decision.from_dict({"replicas": {"a": -1}})
    with pytest.raises(decision.RecordInvalid, match="members must be a list"):
        decision.from_dict({"members": "a"})
