"""Placement decisions per second and their latency, against a plain even split.

A fleet of N members (labels, 5 regions, 15 zones) and M templates (Deployments with
1 to 1,000 replicas, and ConfigMaps) governed by four Placements: weighted division
with bounds, primary/backup groups with a spread over 2 regions, a duplicated copy by
label, and Federation v1 annotations.  Each template goes through four rounds, each a
decision from the previous one: created, scaled, 5 members failed past their
toleration, the members back.  One decision = choosing the template's policy
(``selection.policy_for``) + ``decision.decide``.

The peer, measured in the same run on the same objects, is the floor any placer
pays: a plain even split of each total over every member (``total // n``, the
remainder to the first members).  The script prints decisions per second and
p50/p99/p99.9 per round for both, the ratio of their costs, and p99.9 against
Karmada's scheduler SLO (99.9 % of decisions within 512 ms).  No assertion on time.
Between rounds (untimed) old copies on reachable members count as withdrawn.  Times
are the deciding thread's CPU time (``time.thread_time_ns``): the work is pure
computation, and on a shared machine wall time would add whatever else ran.

    python -m bench.placement [--members 100] [--templates 10000] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import pathlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from placement import decision, federation_v1, members, policy, selection

KARMADA_SLO_MS = 512.0  # Karmada: 99.9 % of scheduling decisions within 512 ms
REPLICAS = [1, 2, 3, 5, 10, 20, 50, 100, 300, 1000]
FAILED = 5


def fleet(n: int, rng: random.Random) -> list[members.MemberInfo]:
    return [members.MemberInfo(f"member-{i:03d}",
                               {"tier": "gold" if i % 3 else "silver",
                                "environment": "production" if i % 7 else "staging"},
                               f"region-{i % 5}", f"zone-{i % 15}")
            for i in range(n)]


def placements(names: Sequence[str], rng: random.Random) -> list[policy.Policy]:
    weighted = {name: rng.randint(1, 10) for name in names}
    docs = [
        {"metadata": {"name": "weighted"}, "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                   "labelSelector": {"matchLabels": {"plan": "weighted"}}}],
            "division": {"type": "Divided", "weights": weighted,
                         "minReplicas": {n: 1 for n in names[::10]},
                         "maxReplicas": {n: 40 for n in names[::7]}}}},
        {"metadata": {"name": "primary-backup"}, "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                   "labelSelector": {"matchLabels": {"plan": "groups"}}}],
            "members": [{"name": "gold", "labelSelector": {"matchLabels": {"tier": "gold"}}},
                        {"name": "silver", "labelSelector": {"matchLabels":
                                                             {"tier": "silver"}}}],
            "spread": [{"spreadByField": "region", "minGroups": 2}],
            "division": {"type": "Divided"},
            "failover": {"rebalanceOnRecovery": True}}},
        {"metadata": {"name": "config"}, "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}],
            "members": [{"labelSelector": {"matchExpressions": [
                {"key": "environment", "operator": "In", "values": ["production"]}]}}]}},
    ]
    return [policy.from_dict({"apiVersion": policy.API_VERSION, "kind": "Placement", **d})
            for d in docs]


def templates(m: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    v1 = json.dumps({"clusters": {"*": {"weight": 1}, "member-000": {"weight": 3}}})
    for i in range(m):
        kind = i % 4
        meta: dict[str, Any] = {"name": f"app-{i}", "namespace": f"ns-{i % 50}"}
        if kind == 3:
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
            continue
        if kind == 2:
            meta["annotations"] = {federation_v1.PREFERENCES["Deployment"]: v1}
        else:
            meta["labels"] = {"plan": "weighted" if kind == 0 else "groups"}
        out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                    "spec": {"replicas": rng.choice(REPLICAS)}})
    return out


def key_of(t: dict[str, Any]) -> str:
    m = t["metadata"]
    return f"{t['apiVersion']}/{t['kind']}/{m['namespace']}/{m['name']}"


def fedns_round(objs: list[dict[str, Any]], pols: list[policy.Policy],
                fl: list[members.MemberInfo], now: float, prev: list[Any],
                scale: Callable[[int], int]) -> tuple[list[Any], list[int]]:
    out, times = [], []
    for t, p in zip(objs, prev):
        total = t.get("spec", {}).get("replicas")
        start = time.thread_time_ns()
        chosen, _ = selection.policy_for(t, pols)
        assert chosen is not None
        d = decision.decide(chosen, fl, key_of(t), None if total is None else scale(total),
                            now, p)
        times.append(time.thread_time_ns() - start)
        out.append(d)
    return out, times


def even_round(objs: list[dict[str, Any]], names: list[str],
               scale: Callable[[int], int]) -> list[int]:
    times = []
    n = len(names)
    for t in objs:
        total = t.get("spec", {}).get("replicas")
        start = time.thread_time_ns()
        if total is None:
            split = dict.fromkeys(names, 0)
        else:
            total = scale(total)
            base, extra = divmod(total, n)
            split = {name: base + (i < extra) for i, name in enumerate(names)}
        times.append(time.thread_time_ns() - start)
        assert len(split) == n
    return times


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.placement")
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--templates", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    fl = fleet(args.members, rng)
    names = [m.name for m in fl]
    pols = placements(names, rng)
    objs = templates(args.templates, rng)
    failed = [members.MemberInfo(m.name, m.labels, m.region, m.zone, ready=False,
                                 not_ready_since=0.0) if i % (len(fl) // FAILED or 1) == 0
              else m for i, m in enumerate(fl)]
    down = sum(not m.ready for m in failed)
    rounds: list[tuple[str, list[members.MemberInfo], float, Callable[[int], int]]] = [
        ("created", fl, 0.0, lambda n: n),
        ("scaled", fl, 10.0, lambda n: n + max(1, n // 3)),
        (f"{down} members failed", failed, 400.0, lambda n: n + max(1, n // 3)),
        ("members back", fl, 500.0, lambda n: n + max(1, n // 3)),
    ]
    print(f"placement decisions: {args.members} members, {args.templates} templates "
          "(Deployments 1-1000 replicas and ConfigMaps, 3 Placements + v1 annotations);"
          " peer: a plain even split of the same objects, same run")
    print(f"{'round':<18} {'fedns dec/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}"
          f" {'even dec/s':>12} {'even p99 ms':>12} {'fedns/even':>11} {'withdrawing':>12}")
    prev: list[Any] = [None] * len(objs)
    worst = 0.0
    all_fedns: list[int] = []
    all_even: list[int] = []
    for label, members_now, now, scale in rounds:
        gc.collect()
        gc.disable()  # a collection pause would land on whichever decision is running
        try:
            prev, ours = fedns_round(objs, pols, members_now, now, prev, scale)
            theirs = even_round(objs, names, scale)
        finally:
            gc.enable()
        all_fedns += ours
        all_even += theirs
        ours_s, theirs_s = sorted(ours), sorted(theirs)
        pending = sum(1 for d in prev if d.withdrawing)
        # the controller's part, untimed: old copies on reachable members are deleted
        reachable = {m.name for m in members_now if m.ready}
        for i, d in enumerate(prev):
            for name in [m for m in d.withdrawing if m in reachable]:
                d = decision.withdrawn(d, name)
            prev[i] = d
        worst = max(worst, pct(ours_s, 0.999))
        print(f"{label:<18} {len(ours) / (sum(ours) / 1e9):>12,.0f} {pct(ours_s, 0.5):>8.3f}"
              f" {pct(ours_s, 0.99):>8.3f} {pct(ours_s, 0.999):>9.3f}"
              f" {len(theirs) / (sum(theirs) / 1e9):>12,.0f} {pct(theirs_s, 0.99):>12.4f}"
              f" {sum(ours) / sum(theirs):>10.1f}x {pending:>12,}")
    print(f"all rounds: fedns {len(all_fedns) / (sum(all_fedns) / 1e9):,.0f} decisions/s,"
          f" p99 {pct(sorted(all_fedns), 0.99):.3f} ms; even split"
          f" {len(all_even) / (sum(all_even) / 1e9):,.0f} decisions/s;"
          f" fedns costs {sum(all_fedns) / sum(all_even):.1f}x the even split")
    print(f"Karmada's SLO (99.9 % within {KARMADA_SLO_MS:.0f} ms) / worst fedns p99.9"
          f" ({worst:.3f} ms): {KARMADA_SLO_MS / worst:,.0f}x headroom")
    print("withdrawing: objects whose decision lists old copies to delete (failed members'"
          " copies, and copies no longer wanted); deleted between rounds once reachable")


if __name__ == "__main__":
    main()
