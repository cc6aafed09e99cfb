"""propagate.status: member status summed onto the template; observedGeneration waits
for every placed member."""

from __future__ import annotations

import pytest

from propagate import manifest, outcome, status


def deploy(generation=2, observed=None):
    obj = {"kind": "Deployment", "metadata": {"name": "web", "generation": generation},
           "spec": {"replicas": 6}}
    if observed is not None:
        obj["status"] = {"observedGeneration": observed}
    return obj


def copy_(template_gen, own_gen=1, observed=1, **counts):
    conditions = counts.pop("conditions", None)
    st = {"observedGeneration": observed, **counts}
    if conditions:
        st["conditions"] = conditions
    return {"metadata": {"generation": own_gen,
                         "annotations": {manifest.GENERATION: str(template_gen)}},
            "status": st}


def cond(type_, state, message="", reason="R"):
    return {"type": type_, "status": state, "reason": reason, "message": message}


CAUGHT_UP = {m: copy_(2, replicas=2, readyReplicas=2, updatedReplicas=2, availableReplicas=2,
                      conditions=[cond("Available", "True", "ok")]) for m in ("a", "b", "c")}


@pytest.mark.parametrize("copies, previous, observed", [
    (CAUGHT_UP, None, 2),
    ({**CAUGHT_UP, "c": copy_(1, replicas=2)}, 1, 1),  # c still has the old template
    ({**CAUGHT_UP, "c": copy_(2, own_gen=2, observed=1)}, 1, 1),  # c's controller lags
    ({**CAUGHT_UP, "c": None}, None, None),  # c has no copy yet
], ids=["all-caught-up", "old-template", "controller-lags", "missing-copy"])
def test_observed_generation_waits_for_every_member(copies, previous, observed):
    got = status.aggregate(deploy(2, previous), copies)
    assert got.get("observedGeneration") == observed


def test_counts_are_summed():
    got = status.aggregate(deploy(), CAUGHT_UP)
    assert (got["replicas"], got["readyReplicas"], got["updatedReplicas"],
            got["availableReplicas"]) == (6, 6, 6, 6)
    assert "unavailableReplicas" not in got


@pytest.mark.parametrize("states, merged", [
    (["True", "True", "True"], "True"),
    (["True", "False", "True"], "False"),
    (["True", None, "True"], "Unknown"),
], ids=["all-true", "one-false", "one-missing"])
def test_conditions_merge_per_type(states, merged):
    copies = {m: copy_(2, conditions=[cond("Available", s, f"{m} says")] if s else None)
              for m, s in zip("abc", states, strict=True)}
    got = status.aggregate(deploy(), copies)["conditions"]
    assert [(c["type"], c["status"]) for c in got] == [("Available", merged)]
    if merged != "True":
        assert got[0]["message"].startswith("b: ")


def test_service_ingress_lists_every_member():
    svc = {"kind": "Service", "metadata": {"name": "web"}, "status": {"loadBalancer": {}}}
    copies = {"a": {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
              "b": {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}},
              "c": None}
    got = status.aggregate(svc, copies)
    assert got == {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"ip": "198.51.100.1"}]}}
    assert status.aggregate(svc, {"c": None}) == {"loadBalancer": {}}


def test_job_counts_and_times():
    job = {"kind": "Job", "metadata": {"name": "j", "generation": 1}}
    copies = {"a": {"status": {"succeeded": 1, "startTime": "2026-01-01T00:00:05Z",
                               "completionTime": "2026-01-01T00:01:00Z"}},
              "b": {"status": {"active": 1, "startTime": "2026-01-01T00:00:01Z"}}}
    got = status.aggregate(job, copies)
    assert got == {"succeeded": 1, "active": 1, "startTime": "2026-01-01T00:00:01Z"}


@pytest.mark.parametrize("kind", ["ConfigMap", "Namespace", "Secret"])
def test_kinds_without_aggregated_status(kind):
    assert status.aggregate({"kind": kind, "metadata": {}}, {"a": None}) is None


def test_outcomes_round_trip_and_changes():
    before = {"a": outcome.Outcome(outcome.APPLIED), "b": outcome.Outcome(outcome.UNREACHABLE)}
    after = {"a": outcome.Outcome(outcome.APPLIED),
             "b": outcome.Outcome(outcome.ERROR, "member 'b': HTTP 422")}
    text = outcome.encode(after)
    assert text == '{"a":{"state":"Applied"},"b":{"state":"Error","message":"member \'b\': HTTP 422"}}'
    assert outcome.decode(text) == after
    assert outcome.decode("not json") == {} and outcome.decode(None) == {}
    assert outcome.changed(before, after) == {"b": after["b"]}
