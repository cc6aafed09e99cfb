"""propagate.jobs: a Job's completions and parallelism divided over the placed members."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propagate import jobs, manifest, status

KEY = "batch/Job/default/crunch"
MEMBERS = ("east", "north", "west")


def job(**spec):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "crunch", "namespace": "default", "generation": 1},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                     **spec}}


@pytest.mark.parametrize("spec, field, totals", [
    ({"completions": 6, "parallelism": 3}, "completions", {"completions": 6, "parallelism": 3}),
    ({"completions": 4}, "completions", {"completions": 4, "parallelism": 1}),
    ({"parallelism": 5}, "parallelism", {"parallelism": 5}),
    ({"completions": None, "parallelism": 2}, "parallelism", {"parallelism": 2}),
    ({"completions": 0, "parallelism": 2}, None, {}),
    ({"completions": 6, "parallelism": 3, "completionMode": "Indexed"}, None, {}),
    ({"completions": 6, "parallelism": 3, "completionMode": "NonIndexed"}, "completions",
     {"completions": 6, "parallelism": 3}),
], ids=["fixed", "parallelism-default", "work-queue", "work-queue-null", "zero", "indexed",
        "non-indexed"])
def test_what_is_divided(spec, field, totals):
    assert jobs.placed(job(**spec)) == field
    assert manifest.placed(job(**spec)) == field
    assert manifest.totals(job(**spec)) == totals


@pytest.mark.parametrize("spec, division, wanted", [
    ({"completions": 6, "parallelism": 3}, {"east": 2, "north": 2, "west": 2},
     {"east": {"completions": 2, "parallelism": 1}, "north": {"completions": 2, "parallelism": 1},
      "west": {"completions": 2, "parallelism": 1}}),
    ({"completions": 6, "parallelism": 6}, {"east": 4, "north": 1, "west": 1},
     {"east": {"completions": 4, "parallelism": 4}, "north": {"completions": 1, "parallelism": 1},
      "west": {"completions": 1, "parallelism": 1}}),
    ({"completions": 6, "parallelism": 1}, {"east": 2, "north": 2, "west": 2},
     {"east": {"completions": 2, "parallelism": 1}, "north": {"completions": 2, "parallelism": 1},
      "west": {"completions": 2, "parallelism": 1}}),
    ({"completions": 6, "parallelism": 0}, {"east": 2, "north": 2, "west": 2},
     {"east": {"completions": 2, "parallelism": 0}, "north": {"completions": 2, "parallelism": 0},
      "west": {"completions": 2, "parallelism": 0}}),
    ({"completions": 2, "parallelism": 9}, {"east": 1, "north": 1, "west": 0},
     {"east": {"completions": 1, "parallelism": 1}, "north": {"completions": 1, "parallelism": 1},
      "west": {"completions": 0, "parallelism": 0}}),
    ({"parallelism": 5}, {"east": 2, "north": 2, "west": 1},
     {"east": {"parallelism": 2}, "north": {"parallelism": 2}, "west": {"parallelism": 1}}),
    ({"completions": 6, "parallelism": 3, "completionMode": "Indexed"}, {},
     {"east": {}, "north": {}, "west": {}}),
], ids=["even", "weighted", "parallelism-below-members", "paused", "more-parallelism-than-work",
        "work-queue", "indexed-whole"])
def test_shares(spec, division, wanted):
    assert manifest.shares(job(**spec), division, MEMBERS, KEY) == wanted


def test_each_copy_carries_its_share_and_none_runs_the_whole():
    template = job(completions=6, parallelism=3)
    got = manifest.shares(template, {"east": 2, "north": 2, "west": 2}, MEMBERS, KEY)
    copies = {m: manifest.build(template, got[m]) for m in MEMBERS}
    assert sum(c["spec"]["completions"] for c in copies.values()) == 6
    assert sum(c["spec"]["parallelism"] for c in copies.values()) == 3


def test_summed_status_completes_when_every_share_has():
    template = job(completions=6, parallelism=3)

    def done(succeeded, complete):
        conds = [{"type": "Complete", "status": "True" if complete else "False"}]
        return {"metadata": {"annotations": {manifest.GENERATION: "1"}},
                "status": {"succeeded": succeeded, "conditions": conds}}

    partial = status.aggregate(template, {"east": done(2, True), "north": done(2, True),
                                          "west": done(1, False)})
    assert partial["succeeded"] == 5
    assert [c["status"] for c in partial["conditions"] if c["type"] == "Complete"] == ["False"]
    full = status.aggregate(template, {"east": done(2, True), "north": done(2, True),
                                       "west": done(2, True)})
    assert full["succeeded"] == template["spec"]["completions"]
    assert [c["status"] for c in full["conditions"] if c["type"] == "Complete"] == ["True"]


@given(total=st.integers(0, 50),
       work=st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(0, 20)))
def test_parallelism_properties(total, work):
    got = jobs.parallelism(total, work, KEY)
    assert set(got) == set(work)
    busy = [m for m, n in work.items() if n > 0]
    for m, n in work.items():
        if n == 0 or total == 0:
            assert got[m] == 0
        else:
            assert 1 <= got[m] <= n
    if total and busy:
        # the total is kept, but never more than the work, and at least 1 a member
        assert sum(got.values()) == max(min(total, sum(work[m] for m in busy)), len(busy))
    assert jobs.parallelism(total, work, KEY) == got  # stable
