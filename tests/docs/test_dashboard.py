"""The Grafana dashboard and the alert rules query only what a running fedns exports.

``fedns demo`` runs on free loopback ports; once it is ready and has answered a DNS
query, reconciled and allocated, its /metrics is scraped and every metric and label
named by a dashboard panel, a dashboard variable or an alert must be in it.  The
dashboard's JSON shape (datasource variable, panels with targets, a grid without
overlaps) is checked too.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import dns.message
import dns.query
import pytest
import yaml

from tests.docs import exposition, promql
from tests.support import procs

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "dashboards" / "fedns.json"
ALERTS = ROOT / "deploy" / "dashboards" / "alerts.yaml"
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
# Families the demo must have samples of before the scrape is taken.
SAMPLED_FIRST = ["fedns_controller_reconcile_total", "fedns_ipam_allocations_total",
                 "fedns_dns_responses_total", "fedns_member_ready", "fedns_leader"]
_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<metric>[^,()]+),\s*)?(?P<label>\w+)\)$")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    """Every panel, rows' collapsed children included; rows themselves excluded."""
    out = []
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def panel_queries() -> list[tuple[str, str]]:
    return [(f"panel {p['title']!r} {t['refId']}", t["expr"])
            for p in panels() for t in p["targets"]]


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, metric, label) of every label_values() variable."""
    out = []
    for var in dashboard()["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = _LABEL_VALUES.match(query.strip())
        assert match and match["metric"], f"variable {var['name']}: {query!r} is not " \
                                          "label_values(METRIC, LABEL)"
        out.append((var["name"], match["metric"].strip(), match["label"]))
    return out


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())["spec"]["groups"]
    return [(f"alert {r['alert']}", r["expr"]) for g in rules for r in g["rules"]]


# -- the dashboard's shape ---------------------------------------------------------


def test_dashboard_is_json_with_a_prometheus_datasource_variable():
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DS_REF, var["name"]


def test_every_panel_has_the_datasource_and_a_query():
    assert len(panels()) >= 15
    for panel in panels():
        assert panel["datasource"] == DS_REF, panel["title"]
        assert panel["targets"], f"{panel['title']}: no target"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), f"{panel['title']}: refIds {refs}"
        for t in panel["targets"]:
            assert t["datasource"] == DS_REF, panel["title"]
            assert t["expr"].strip(), panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what the panel shows"


def test_panel_ids_are_unique_and_the_grid_has_no_overlap():
    every = dashboard()["panels"]
    ids = [p["id"] for p in every]
    assert len(set(ids)) == len(ids)
    taken: dict[tuple[int, int], str] = {}
    for p in every:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in taken, f"{p['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = p["title"]


def test_the_dashboard_shows_what_an_operator_asks_for():
    used = set().union(*(promql.metric_names(e) for _, e in panel_queries()))
    assert {"fedns_ipam_addresses_in_use", "fedns_ipam_addresses_total",  # utilisation
            "fedns_ipam_allocations_total",  # allocations and refusals by reason
            "fedns_member_ready",  # member health
            "fedns_controller_reconcile_duration_seconds_bucket",
            "fedns_controller_reconcile_total", "fedns_controller_queue_depth", "fedns_leader",
            "fedns_dns_responses_total", "fedns_dns_requests_total"} <= used
    exprs = " ".join(e for _, e in panel_queries())
    assert "histogram_quantile" in exprs
    assert 'result!~"allocated|kept|shared"' in exprs  # refusals are the other results


# -- the reader of queries the checks below rely on ----------------------------------


@pytest.mark.parametrize("expr, metrics, labels", [
    ("fedns_leader", {"fedns_leader"}, set()),
    ('sum by (result) (rate(fedns_reconcile_total{result="error"}[$__rate_interval]))',
     {"fedns_reconcile_total"}, {"result"}),
    ("histogram_quantile(0.99, sum by (le, site) (rate(x_bucket{site=~\"$site\"}[5m])))",
     {"x_bucket"}, {"le", "site"}),
    ("max(fedns_queue_depth and (fedns_leader == 1)) or vector(0)",
     {"fedns_queue_depth", "fedns_leader"}, set()),
    ("a / on (instance) group_left (pool) b offset 5m", {"a", "b"}, {"instance", "pool"}),
    ('count(up{job="x", __name__=~"y"}) > 1e3', {"up"}, {"job"}),
], ids=["bare", "by-and-matcher", "quantile", "and-vector", "on-group-left", "number"])
def test_query_reader(expr, metrics, labels):
    assert promql.metric_names(expr) == metrics
    assert promql.label_names(expr) == labels


# -- against a running fedns ---------------------------------------------------------


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def exported() -> Iterator[dict[str, exposition.Series]]:
    dns_port, api_port = procs.free_port(), procs.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fedns.cli", "demo", "--dns-listen", f"127.0.0.1:{dns_port}",
         "--api-listen", f"127.0.0.1:{api_port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    api = f"http://127.0.0.1:{api_port}"
    try:
        procs.wait_for(lambda: proc.poll() is None and _get(f"{api}/readyz"), 60,
                       "fedns demo /readyz")
        query = dns.message.make_query("hello.default.myfed.svc.example.com", "A")
        dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=5)

        def scrape() -> dict[str, exposition.Series] | None:
            found = exposition.series(_get(f"{api}/metrics"))
            return found if all(found.get(n) and found[n].sampled for n in SAMPLED_FIRST) \
                else None
        yield procs.wait_for(scrape, 60, "samples of " + ", ".join(SAMPLED_FIRST), 0.2)
    finally:
        procs.stop_process(proc)
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


QUERIES = {"dashboard": panel_queries, "alerts": alert_queries}


@pytest.mark.parametrize("source", sorted(QUERIES))
def test_every_metric_queried_is_exported(exported, source):
    missing = {}
    for where, expr in QUERIES[source]():
        names = promql.metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        if unknown := sorted(n for n in names if n not in exported):
            missing[where] = unknown
    assert not missing, f"not exported by fedns: {missing}"


@pytest.mark.parametrize("source", sorted(QUERIES))
def test_every_label_queried_is_on_those_metrics(exported, source):
    wrong = {}
    for where, expr in QUERIES[source]():
        have = set(exposition.TARGET_LABELS)
        for name in promql.metric_names(expr):
            have |= exported[name].labels
        if unknown := sorted(promql.label_names(expr) - have):
            wrong[where] = unknown
    assert not wrong, f"labels none of the queried metrics has: {wrong}"


def test_every_variable_lists_an_exported_label(exported):
    variables = variable_queries()
    assert variables
    for name, metric, label in variables:
        assert metric in exported, f"variable {name}: {metric} is not exported"
        assert label in exported[metric].labels, f"variable {name}: {metric} has no {label}"


def test_only_fedns_metrics_are_queried():
    # CoreDNS and etcd have their own dashboards; a coredns_* name here could not be
    # checked against a fedns scrape.
    for where, expr in panel_queries() + alert_queries():
        assert all(n.startswith("fedns_") for n in promql.metric_names(expr)), where


def test_the_operating_docs_list_exactly_the_exported_metrics(exported):
    doc = (ROOT / "docs" / "operating.md").read_text()
    listed = set(re.findall(r"^\| `(fedns_\w+)` \|", doc, re.MULTILINE))
    families = set()
    for name, entry in exported.items():
        if name.endswith("_created"):
            continue
        families.add(entry.family + "_total" if entry.type == "counter" else entry.family)
    assert listed == families
