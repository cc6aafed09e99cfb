"""The alert rules and the dashboard's queries through Prometheus's own ``promtool``.

``promtool check rules`` parses every alert and, as recording rules, every dashboard
query (Grafana variables filled in); ``promtool test rules`` feeds each alert series
shaped like fedns's (two replicas, as the ha overlay runs) and checks which alerts
fire with which labels.  Annotations are left out of the unit tests: they are prose.
``promtool`` comes with Debian's ``prometheus`` package.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.docs import promql
from tests.docs.test_dashboard import ALERTS, panel_queries

PROMTOOL = shutil.which("promtool")
# the README's test command installs it; a missing promtool is a failure, not a skip
needs_promtool = pytest.mark.usefixtures("promtool_installed")


@pytest.fixture
def promtool_installed() -> None:
    if PROMTOOL is None:
        pytest.fail("promtool is not installed: run the README's test command "
                    "(Debian package prometheus)")


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["spec"]["groups"] for r in g["rules"]]


def promtool(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def test_alerts_file_is_a_prometheus_rule_with_named_severe_alerts():
    doc = yaml.safe_load(ALERTS.read_text())
    assert (doc["apiVersion"], doc["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    names = [r["alert"] for r in rules()]
    assert len(set(names)) == len(names) >= 8
    for rule in rules():
        assert rule["alert"].startswith("Fedns")
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@needs_promtool
def test_promtool_accepts_the_alerts(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(yaml.safe_load(ALERTS.read_text())["spec"]))
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path):
    recorded = [{"record": f"dashboard:query_{i}", "expr": promql.substitute(expr)}
                for i, (_, expr) in enumerate(panel_queries())]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    result = promtool("check", "rules", "queries.yaml", cwd=tmp_path)
    where = dict(enumerate(w for w, _ in panel_queries()))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n(query N is {where})"


def counter(step: int, n: int = 60) -> str:
    return f"0+{step}x{n}"


def gauge(value: float, n: int = 60) -> str:
    return f"{value}x{n}"


REPLICAS = ('instance="a"', 'instance="b"')
CASES: list[tuple[str, str, dict[str, str], list[dict[str, str]]]] = [
    # (id, alert, {series: values}, labels of the alerts expected to fire)
    ("no-leader", "FednsNoLeader",
     {'fedns_leader{instance="a"}': gauge(0), 'fedns_leader{instance="b"}': gauge(0)}, [{}]),
    ("one-leader", "FednsNoLeader",
     {'fedns_leader{instance="a"}': gauge(1), 'fedns_leader{instance="b"}': gauge(0)}, []),
    ("nothing-scraped", "FednsNoLeader", {'up{job="fedns"}': gauge(0)}, [{}]),
    ("two-leaders", "FednsSeveralLeaders",
     {'fedns_leader{instance="a"}': gauge(1), 'fedns_leader{instance="b"}': gauge(1)}, [{}]),
    ("member-down", "FednsMemberNotReady",
     {f'fedns_member_ready{{{r},member="{m}"}}': gauge(0 if m == "site-a" else 1)
      for r in REPLICAS for m in ("site-a", "site-b")}, [{"member": "site-a"}]),
    ("member-seen-by-one-replica", "FednsMemberNotReady",
     {'fedns_member_ready{instance="a",member="site-a"}': gauge(0),
      'fedns_member_ready{instance="b",member="site-a"}': gauge(1)}, []),
    ("pool-95%", "FednsPoolNearlyExhausted",
     {f'fedns_ipam_addresses_{k}{{{r},site="s",pool="p",family="IPv4"}}': gauge(v)
      for r in REPLICAS for k, v in (("in_use", 95), ("total", 100))},
     [{"site": "s", "pool": "p", "family": "IPv4"}]),
    ("pool-50%", "FednsPoolNearlyExhausted",
     {'fedns_ipam_addresses_in_use{site="s",pool="p",family="IPv4"}': gauge(50),
      'fedns_ipam_addresses_total{site="s",pool="p",family="IPv4"}': gauge(100)}, []),
    ("empty-pool", "FednsPoolNearlyExhausted",
     {'fedns_ipam_addresses_in_use{site="s",pool="p",family="IPv4"}': gauge(0),
      'fedns_ipam_addresses_total{site="s",pool="p",family="IPv4"}': gauge(0)}, []),
    ("refused", "FednsAllocationsRefused",
     {'fedns_ipam_allocations_total{site="s",pool="",family="",result="pool_exhausted"}':
      counter(1),
      'fedns_ipam_allocations_total{site="s",pool="p",family="IPv4",result="kept"}':
      counter(5)}, [{"site": "s", "result": "pool_exhausted"}]),
    ("given", "FednsAllocationsRefused",
     {f'fedns_ipam_allocations_total{{site="s",pool="p",family="IPv4",result="{r}"}}':
      counter(3) for r in ("allocated", "kept", "shared")}, []),
    ("status-conflict", "FednsIPAMStatusConflict",
     {'fedns_ipam_conflicts_total{site="s",pool="p",family="IPv4",kind="status"}':
      "0 0 0 1x57"}, [{"site": "s", "pool": "p"}]),
    ("txn-conflicts", "FednsIPAMStatusConflict",
     {'fedns_ipam_conflicts_total{site="s",pool="p",family="IPv4",kind="txn"}': counter(4)},
     []),
    ("errors-1/3", "FednsReconcileErrors",
     {'fedns_controller_reconcile_total{controller="services",result="error"}': counter(5),
      'fedns_controller_reconcile_total{controller="services",result="ok"}': counter(10)},
     [{}]),
    ("errors-none", "FednsReconcileErrors",
     {'fedns_controller_reconcile_total{controller="services",result="error"}': gauge(0),
      'fedns_controller_reconcile_total{controller="services",result="ok"}': counter(10)},
     []),
    ("slow", "FednsReconcileSlow",
     {f'fedns_controller_reconcile_duration_seconds_bucket{{controller="services",le="{le}"}}':
      counter(n) for le, n in (("1", 0), ("2.5", 0), ("5", 10), ("+Inf", 10))}, [{}]),
    ("slow-status-only", "FednsReconcileSlow",
     {f'fedns_controller_reconcile_duration_seconds_bucket{{controller="status",le="{le}"}}':
      counter(n) for le, n in (("1", 0), ("2.5", 0), ("5", 10), ("+Inf", 10))}, []),
    ("fast", "FednsReconcileSlow",
     {f'fedns_controller_reconcile_duration_seconds_bucket{{controller="services",le="{le}"}}':
      counter(10) for le in ("0.01", "1", "2.5", "5", "+Inf")}, []),
    ("leader-backlog", "FednsQueueBacklog",
     {'fedns_controller_queue_depth{instance="a",controller="services"}': gauge(300),
      'fedns_controller_queue_depth{instance="a",controller="status"}': gauge(200),
      'fedns_leader{instance="a"}': gauge(1)}, [{}]),
    ("follower-queue", "FednsQueueBacklog",
     {'fedns_controller_queue_depth{instance="a",controller="services"}': gauge(3),
      'fedns_leader{instance="a"}': gauge(1),
      'fedns_controller_queue_depth{instance="b",controller="services"}': gauge(500),
      'fedns_leader{instance="b"}': gauge(0)},
     []),
    ("servfail-10%", "FednsDNSServfail",
     {'fedns_dns_responses_total{rcode="SERVFAIL"}': counter(10),
      'fedns_dns_responses_total{rcode="NOERROR"}': counter(90),
      'fedns_dns_requests_total{transport="udp"}': counter(100)}, [{}]),
    ("servfail-none", "FednsDNSServfail",
     {'fedns_dns_responses_total{rcode="NOERROR"}': counter(100),
      'fedns_dns_requests_total{transport="udp"}': counter(100)}, []),
]


def test_every_alert_has_a_case_that_fires():
    fired = {alert for _, alert, _, expected in CASES if expected}
    assert fired == {r["alert"] for r in rules()}


@needs_promtool
@pytest.mark.parametrize("alert, series, expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_alert_fires_exactly_when_it_should(tmp_path, alert, series, expected):
    rule = next(r for r in rules() if r["alert"] == alert)
    bare = {k: v for k, v in rule.items() if k != "annotations"}
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "fedns", "rules": [bare]}]}))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "alert_rule_test": [{
                "eval_time": "50m",
                "alertname": alert,
                "exp_alerts": [{"exp_labels": {**labels, **rule["labels"]}}
                               for labels in expected],
            }],
        }],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    result = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
