"""Issue 15's remaining endpoint pieces end to end (real etcd, ``fedns sim``, ``fedns run``,
kubectl): every member's Events listed, watched and read-only at the endpoint beside its
own, and a Job's completions divided over the members, complete at the endpoint once
every share is.  One federation for the module."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import pytest
import yaml

from tests.integration import harness as h
from tests.integration.test_federation import MEMBERS, Federation


@pytest.fixture(scope="module")
def fed(etcd, tmp_path_factory):
    f = Federation(etcd, tmp_path_factory.mktemp("events"))
    try:
        f.replica.start()
        h.until(lambda: all(m in f.kubectl("get", "clusters") for m in MEMBERS), 30,
                "every member known")
        yield f
    finally:
        f.stop()


def member_event(name: str, involved: str, message: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": involved,
                           "namespace": "default", "uid": "0000-member-copy"},
        "reason": "ScalingReplicaSet", "message": message, "type": "Normal",
        "source": {"component": "deployment-controller"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
        "count": 1})


def listed(fed: Federation, *args: str) -> dict[str, str]:
    """name -> member ("" for the endpoint's own) of ``kubectl get events ARGS``."""
    items = json.loads(fed.kubectl("get", "events", *args, "-o", "json"))["items"]
    return {o["metadata"]["name"]: (o["metadata"].get("annotations") or {})
            .get("fedns.io/member", "") for o in items}


def test_member_events_are_listed_with_their_member_and_read_only(fed):
    fed.main.kubectl("umich", "create", "-f", "-",
                     stdin=member_event("web.umich1", "web", "Scaled up replica set web-1 to 2"))
    fed.lone.kubectl("uva", "create", "-f", "-",
                     stdin=member_event("db.uva1", "db", "Scaled up replica set db-1 to 1"))
    h.until(lambda: {"web.umich1", "db.uva1"} <= set(listed(fed, "-A")), 20,
            "the members' Events at the endpoint")
    assert listed(fed, "-A")["web.umich1"] == "umich"
    assert listed(fed, "-n", "default", "--field-selector", "involvedObject.name=db") == {
        "db.uva1": "uva"}
    assert listed(fed, "-n", "kube-system") == {}
    table = fed.kubectl("get", "events", "-n", "default").splitlines()
    assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MEMBER", "MESSAGE"]
    row = next(line for line in table if "deployment/web" in line and "umich" in line)
    assert "Scaled up replica set web-1 to 2" in row
    one = yaml.safe_load(fed.kubectl("get", "event", "db.uva1", "-o", "yaml"))
    assert one["metadata"]["annotations"]["fedns.io/member"] == "uva"
    assert one["reason"] == "ScalingReplicaSet"
    refused = subprocess.run(
        [h.kubectl_binary(), "--kubeconfig", fed.endpoint_config, "--cache-dir", fed.cache,
         "delete", "event", "web.umich1"], capture_output=True, text=True, timeout=60,
        check=False)
    assert refused.returncode != 0 and 'belongs to member "umich"' in refused.stderr, \
        refused.stderr
    assert "web.umich1" in fed.main.kubectl("umich", "get", "events", "-o", "name")


WATCH = ("/api/v1/namespaces/default/events?watch=1&timeoutSeconds=120"
         "&fieldSelector=involvedObject.name%3Dwatched")


def test_a_watch_at_the_endpoint_streams_a_members_events(fed):
    watch = subprocess.Popen(
        [h.kubectl_binary(), "--kubeconfig", fed.endpoint_config, "--cache-dir", fed.cache,
         "get", "--raw", WATCH],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen: list[tuple[str, str, str]] = []

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            event = json.loads(line)
            meta = event["object"]["metadata"]
            seen.append((event["type"], meta["name"],
                         (meta.get("annotations") or {}).get("fedns.io/member", "")))

    # kubectl's own watch asks for Table rows: the member is in its column
    rows = subprocess.Popen(
        [h.kubectl_binary(), "--kubeconfig", fed.endpoint_config, "--cache-dir", fed.cache,
         "get", "events", "-n", "default", "--watch-only", "--field-selector",
         "involvedObject.name=watched"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    printed: list[list[str]] = []

    def read_rows() -> None:
        assert rows.stdout is not None
        printed.extend(line.split() for line in rows.stdout)

    readers = [threading.Thread(target=read, daemon=True),
               threading.Thread(target=read_rows, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        fed.lone.kubectl("uva", "create", "-f", "-",
                         stdin=member_event("watched.uva", "watched", "first"))
        h.until(lambda: ("ADDED", "watched.uva", "uva") in seen, 20, "the member's Event")
        h.until(lambda: any("deployment/watched" in row and "uva" in row for row in printed),
                20, "kubectl get events --watch-only prints it with its member")
        fed.lone.kubectl("uva", "delete", "event", "watched.uva")
        h.until(lambda: ("DELETED", "watched.uva", "uva") in seen, 20, "its deletion")
    finally:
        for proc in (watch, rows):
            proc.kill()
            proc.wait(10)


JOB = yaml.safe_dump({
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "crunch", "namespace": "default"},
    "spec": {"completions": 6, "parallelism": 3,
             "template": {"metadata": {"annotations": {"sim.fedns.io/run-seconds": "0.5"}},
                          "spec": {"restartPolicy": "Never",
                                   "containers": [{"name": "c", "image": "busybox"}]}}}})


def test_a_job_is_divided_and_completes_at_the_endpoint(fed):
    fed.kubectl("apply", "-f", "-", stdin=JOB)

    def shares() -> dict[str, Any]:
        out = {}
        for m in MEMBERS:
            copy = fed.copy(m, "job", "crunch")
            out[m] = (copy["spec"]["completions"], copy["spec"]["parallelism"]) if copy else None
        return out
    h.until(lambda: shares() == dict.fromkeys(MEMBERS, (2, 1)), 30,
            "two completions, one at a time, in each member")
    fed.kubectl("wait", "--for=condition=complete", "job/crunch", "--timeout=120s")
    status = fed.template("job", "crunch")["status"]
    assert status["succeeded"] == 6 and status.get("failed", 0) == 0
    assert sum(fed.copy(m, "job", "crunch")["status"]["succeeded"] for m in MEMBERS) == 6
    assert fed.kubectl("get", "job", "crunch", "--no-headers").split()[2] == "6/6"

    # the members' schedulers' own Events about the copies' Pods reach the endpoint
    scheduled = listed(fed, "-n", "default", "--field-selector", "reason=Scheduled")
    assert {m for n, m in scheduled.items() if n.startswith("crunch-")} == set(MEMBERS)

    # kubectl describe still shows the endpoint's own Events about the template
    assert "Placed" in fed.kubectl("describe", "job", "crunch")
    own = [n for n, member in listed(fed, "-n", "default",
                                     "--field-selector", "involvedObject.name=crunch").items()
           if member == ""]
    assert own, "the endpoint's own Events about the Job"
    table = fed.kubectl("get", "events", "-n", "default", "--field-selector",
                        "involvedObject.name=crunch")
    assert "<endpoint>" in table

    # kubectl delete events --all deletes the endpoint's own; each member's is refused
    fed.main.kubectl("umich", "create", "-f", "-",
                     stdin=member_event("web.umich2", "web", "kept"))
    h.until(lambda: "web.umich2" in listed(fed, "-n", "default"), 20, "umich's Event listed")
    deleted = subprocess.run(
        [h.kubectl_binary(), "--kubeconfig", fed.endpoint_config, "--cache-dir", fed.cache,
         "delete", "events", "--all", "-n", "default"], capture_output=True, text=True,
        timeout=120, check=False)
    assert "read-only" in deleted.stderr, deleted.stderr
    after = listed(fed, "-n", "default")
    assert not set(own) & set(after), "the endpoint's own Events deleted"
    assert after.get("web.umich2") == "umich"
