"""A Job's work divided over the members placement chose, as Federation v1 divided it.

A Job with ``spec.completions`` C and ``spec.parallelism`` P placed on three members
would otherwise run C completions in each (3C in all).  Instead placement divides the
Job's *work* like a Deployment's replicas (:func:`placed`: the completions, or the
parallelism of a work-queue Job) and each member's copy gets its share of both:

- ``completions`` C (NonIndexed): placement divides C; :func:`parallelism` then
  gives each member with completions a parallelism of 1 and the rest of P in
  proportion to its completions beyond that (largest remainder, ties by
  :func:`propagate.divide.rank`), never more than its completions, so no member's
  share waits forever (when P is smaller than the number of members given work,
  their parallelism sums to that number, more than P).  P = 0
  (kube's "paused") stays 0 everywhere.  The members' ``succeeded`` sum to C, and
  ``Complete`` is True at the endpoint once every member's copy completes.
- work queue (``completions`` null): placement divides P, the number of workers;
  each copy keeps ``completions`` null.
- copied whole (nothing divided): ``completionMode: Indexed`` (a member cannot be given
  a range of indexes: each copy runs every index, as before), and ``completions: 0``
  (each copy completes at once, as the template would in one cluster).

A member whose share of the work is 0 gets no copy (placement leaves it out).  Pure:
no I/O.  Not for: choosing the members or the shares (``placement``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from propagate import divide

Obj = dict[str, Any]


def _count(spec: Obj, field: str, default: int | None) -> Any:
    value = spec.get(field, default)
    return default if value is None else value


def placed(job: Obj) -> str | None:
    """The spec field placement divides: ``completions``, ``parallelism`` (a work-queue
    Job), or None when the Job is copied whole (Indexed, or ``completions: 0``)."""
    spec = job.get("spec") or {}
    if spec.get("completionMode") == "Indexed":
        return None
    completions = spec.get("completions")
    if completions is None:
        return "parallelism"
    return None if completions == 0 else "completions"


def totals(job: Obj) -> dict[str, Any]:
    """The template's divided fields and their totals (``parallelism`` 1 when unset, as
    kube-apiserver defaults it); {} when the Job is copied whole.  The values are
    the template's as given: the caller refuses ones that are not counts."""
    field = placed(job)
    spec = job.get("spec") or {}
    if field is None:
        return {}
    out = {"parallelism": _count(spec, "parallelism", 1)}
    if field == "completions":
        out["completions"] = spec["completions"]
    return out


def parallelism(total: int, work: Mapping[str, int], key: str) -> dict[str, int]:
    """``member -> parallelism`` for members given ``work[member]`` completions: 1 for
    each member with work, the rest of ``total`` (no more than the work left) in
    proportion to the work beyond that one, largest remainders first; 0 for a member
    with no work, and everywhere when ``total`` is 0."""
    busy = {m: n for m, n in work.items() if n > 0}
    out = {m: 0 for m in work}
    if total <= 0 or not busy:
        return out
    rest = min(total, sum(busy.values())) - len(busy)
    room = {m: n - 1 for m, n in busy.items()}
    whole = sum(room.values())
    exact = {m: rest * r / whole if whole and rest > 0 else 0.0 for m, r in room.items()}
    given = {m: 1 + int(v) for m, v in exact.items()}
    left = max(rest, 0) - sum(int(v) for v in exact.values())
    # the largest remainders get one more (never past the work: a remainder > 0 means
    # below it); equal ones by the stable hash
    for m in sorted(busy, key=lambda m: (-(exact[m] - int(exact[m])), divide.rank(key, m)))[:left]:
        given[m] += 1
    out.update(given)
    return out


def shares(job: Obj, work: Mapping[str, int], key: str) -> dict[str, dict[str, int]]:
    """Each member's spec fields, from ``work`` (placement's division of the
    :func:`placed` field): ``{"completions": c, "parallelism": p}`` or, for a
    work-queue Job, ``{"parallelism": p}``; {} for each member of a Job copied whole."""
    field = placed(job)
    if field is None:
        return {m: {} for m in work}
    if field == "parallelism":
        return {m: {"parallelism": n} for m, n in work.items()}
    par = parallelism(int(totals(job)["parallelism"]), work, key)
    return {m: {"completions": n, "parallelism": par[m]} for m, n in work.items()}
