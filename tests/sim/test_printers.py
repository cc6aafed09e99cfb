"""Table rows of the kinds the sim's controllers fill: StatefulSet, CronJob, and Job
status precedence (a finished Job has several True conditions)."""

from __future__ import annotations

import datetime

import pytest

from fedns.kapi import printers

NOW = datetime.datetime(2026, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)
CREATED = "2026-01-10T11:55:00Z"
TEMPLATE = {"spec": {"containers": [{"name": "c", "image": "pg:16"}]}}


def conditions(*kinds: str) -> dict:
    return {"conditions": [{"type": k, "status": "True"} for k in kinds]}


@pytest.mark.parametrize(("printer", "obj", "cells"), [
    pytest.param(printers.STATEFULSET,
                 {"metadata": {"name": "db", "creationTimestamp": CREATED},
                  "spec": {"replicas": 3, "template": TEMPLATE},
                  "status": {"readyReplicas": 2}},
                 ["db", "2/3", "5m", "c", "pg:16"], id="statefulset"),
    pytest.param(printers.CRONJOB,
                 {"metadata": {"name": "tick", "creationTimestamp": CREATED},
                  "spec": {"schedule": "@hourly", "suspend": False,
                           "jobTemplate": {"spec": {"template": TEMPLATE}}},
                  "status": {"active": [{"name": "tick-1"}],
                             "lastScheduleTime": "2026-01-10T11:59:00Z"}},
                 ["tick", "@hourly", "<none>", "False", 1, "60s", "5m", "c", "pg:16",
                  "<none>"], id="cronjob"),
    pytest.param(printers.CRONJOB,
                 {"metadata": {"name": "t", "creationTimestamp": CREATED},
                  "spec": {"schedule": "0 * * * *", "timeZone": "Europe/Paris",
                           "suspend": True}},
                 ["t", "0 * * * *", "Europe/Paris", "True", 0, "<none>", "5m", "", "",
                  "<none>"], id="cronjob-never-run"),
])
def test_rows(printer, obj, cells):
    assert printer.row(obj, NOW) == cells
    assert len(printer.columns) == len(cells)


@pytest.mark.parametrize(("status", "deleting", "shown"), [
    pytest.param(conditions("SuccessCriteriaMet", "Complete"), False, "Complete",
                 id="complete"),
    pytest.param(conditions("FailureTarget", "Failed"), False, "Failed", id="failed"),
    pytest.param(conditions("FailureTarget"), False, "FailureTarget", id="failing"),
    pytest.param(conditions("Suspended"), True, "Terminating", id="terminating"),
    pytest.param({}, False, "Running", id="running"),
])
def test_job_status_precedence(status, deleting, shown):
    obj = {"metadata": {"name": "j", "creationTimestamp": CREATED,
                        **({"deletionTimestamp": CREATED} if deleting else {})},
           "spec": {"completions": 1}, "status": status}
    assert printers.JOB.row(obj, NOW)[1] == shown
