"""The controllers of a simulated member, in process: workloads, scheduling, Pods,
EndpointSlices and garbage collection reach the end state kube-controller-manager gives."""

from __future__ import annotations

import datetime
import ipaddress
import time
from typing import Any

import pytest

from fedns.controller import state
from fedns.kapi import status
from fedns.sim import cluster, fit, meta, runtime, trouble
from tests.support import aio

Obj = dict[str, Any]


class Member:
    """One started member and shortcuts to its Storage."""

    def __init__(self, member: cluster.Member) -> None:
        self.member = member
        self.storage = member.storage

    def kind(self, plural: str, group: str = "") -> Any:
        for kind in self.storage.registry.kinds(group):
            if kind.plural == plural:
                return kind
        raise LookupError(plural)

    async def create(self, plural: str, obj: Obj, group: str = "",
                     namespace: str = "default") -> Obj:
        return await self.storage.create(self.kind(plural, group), namespace, obj)

    async def get(self, plural: str, name: str, group: str = "",
                  namespace: str = "default") -> Obj | None:
        try:
            return await self.storage.get(self.kind(plural, group), namespace, name)
        except status.ApiError as err:
            if err.code == 404:
                return None
            raise

    async def list(self, plural: str, group: str = "", namespace: str = "default") -> list[Obj]:
        return (await self.storage.list(self.kind(plural, group), namespace)).items

    async def patch(self, plural: str, name: str, body: Obj, group: str = "",
                    namespace: str = "default") -> Obj:
        return await self.storage.patch(self.kind(plural, group), namespace, name,
                                        "application/merge-patch+json", body)

    async def delete(self, plural: str, name: str, group: str = "",
                     namespace: str = "default", policy: str = "Background") -> None:
        await self.storage.delete(self.kind(plural, group), namespace, name,
                                  {"propagationPolicy": policy})


@pytest.fixture
async def sim():
    started = await cluster.start_members([cluster.MemberSpec(
        "umich", "us-east", "us-east-1a", 2, runtime.Settings(ready_delay=0.05,
                                                              run_seconds=0.1))])
    yield Member(started[0])
    await cluster.stop_members(started)


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.25",
               strategy: Obj | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     **({"strategy": strategy} if strategy else {}), **spec,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{
                                      "name": "c", "image": image,
                                      "ports": [{"name": "http", "containerPort": 8080}]}]}}}}


def available(replicas: int):
    def check(d: Obj | None) -> bool:
        s = (d or {}).get("status") or {}
        return (s.get("availableReplicas", 0) == replicas == s.get("updatedReplicas", 0)
                and s.get("replicas", 0) == replicas
                and s.get("observedGeneration") == d["metadata"]["generation"])  # type: ignore[index]
    return check


async def wait_deployment(sim: Member, name: str, replicas: int, timeout: float = 30) -> Obj:
    async def check() -> Obj | None:
        d = await sim.get("deployments", name, "apps")
        return d if available(replicas)(d) else None
    found: Obj = await aio.until(check, timeout, f"deployment {name} available")  # type: ignore[arg-type]
    return found


async def test_deployment_becomes_available_with_upstream_status(sim):
    await sim.create("deployments", deployment(replicas=3), "apps")
    d = await wait_deployment(sim, "web", 3)
    s = d["status"]
    assert s["readyReplicas"] == 3 and "unavailableReplicas" not in s
    conditions = {c["type"]: c for c in s["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Available"]["message"] == "Deployment has minimum availability."
    (rs,) = await sim.list("replicasets", "apps")
    hashed = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{hashed}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hashed}
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert meta.controller_uid(rs) == d["metadata"]["uid"]
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conditions["Progressing"]["message"] == \
        f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'
    assert rs["status"]["readyReplicas"] == 3


async def test_pods_are_bound_running_ready_with_ips_from_their_node(sim):
    await sim.create("deployments", deployment(replicas=4), "apps")
    await wait_deployment(sim, "web", 4)
    nodes = {n["metadata"]["name"]: n for n in await sim.list("nodes", namespace="")}
    pods = await sim.list("pods")
    assert len(pods) == 4 and {p["spec"]["nodeName"] for p in pods} == set(nodes)  # spread
    for pod in pods:
        node = nodes[pod["spec"]["nodeName"]]
        assert pod["status"]["phase"] == "Running"
        assert ipaddress.ip_address(pod["status"]["podIP"]) in \
            ipaddress.ip_network(node["spec"]["podCIDR"])
        kinds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert kinds == {"PodScheduled": "True", "Initialized": "True", "Ready": "True",
                         "ContainersReady": "True", "PodReadyToStartContainers": "True"}
        assert pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    assert len({p["status"]["podIP"] for p in pods}) == 4


@pytest.mark.parametrize(("replicas", "strategy", "most"), [
    pytest.param(4, {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, 5, id="surge-1"),
    pytest.param(4, {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 2}}, 4, id="unavail-2"),
    pytest.param(4, None, 5, id="default-25%"),
    pytest.param(3, {"type": "Recreate"}, 3, id="recreate"),
])
async def test_rollout_stays_within_its_budget(sim, replicas, strategy, most):
    await sim.create("deployments", deployment(replicas=replicas, strategy=strategy), "apps")
    await wait_deployment(sim, "web", replicas)
    seen: list[tuple[int, set[str]]] = []
    rs_informer = sim.member.controllers.informer("replicasets", "apps")
    rs_informer.handlers.append(lambda old, new: seen.append((
        sum(int(rs["spec"]["replicas"]) for rs in rs_informer.items("default")),
        {rs["metadata"]["name"] for rs in rs_informer.items("default")
         if rs["spec"]["replicas"] or rs.get("status", {}).get("replicas")})))
    await sim.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx:1.26"}]}}}}, "apps")
    d = await wait_deployment(sim, "web", replicas)
    assert max(total for total, _ in seen) <= most
    if strategy and strategy["type"] == "Recreate":
        assert all(len(live) <= 1 for _, live in seen)  # never old and new Pods at once
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    images = {p["spec"]["containers"][0]["image"] for p in await sim.list("pods")}
    assert images == {"nginx:1.26"}


async def set_image(sim: Member, tag: str) -> None:
    template = deployment()["spec"]["template"]
    template["spec"]["containers"][0]["image"] = f"nginx:{tag}"
    await sim.patch("deployments", "web", {"spec": {"template": template}}, "apps")
    await wait_deployment(sim, "web", 1)


def revisions(sets: list[Obj]) -> dict[str, int]:
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]:
            int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
            for rs in sets}


async def test_rollback_moves_the_old_revision_forward_and_history_is_limited(sim):
    await sim.create("deployments", deployment(replicas=1, revisionHistoryLimit=2), "apps")
    await wait_deployment(sim, "web", 1)
    await set_image(sim, "1.26")
    await set_image(sim, "1.25")  # what `kubectl rollout undo` does: the old template
    sets = await sim.list("replicasets", "apps")
    assert revisions(sets) == {"nginx:1.25": 3, "nginx:1.26": 2}
    (back,) = [rs for rs in sets if rs["spec"]["replicas"] == 1]
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    for tag in ("1.27", "1.28", "1.29"):
        await set_image(sim, tag)

    async def trimmed() -> list[Obj] | None:
        found = await sim.list("replicasets", "apps")
        return found if len(found) == 3 else None
    sets = await aio.until(trimmed, 30, "history trimmed to 2 old ReplicaSets")
    assert revisions(sets) == {"nginx:1.27": 4, "nginx:1.28": 5, "nginx:1.29": 6}


@pytest.mark.parametrize(("capacity", "selector", "reason"), [
    pytest.param({"cpu": "1"}, None, "Insufficient cpu", id="cpu"),
    pytest.param({"memory": "100Mi"}, None, "Insufficient memory", id="memory"),
    pytest.param({"pods": "1"}, None, "Too many pods", id="pods"),
    pytest.param({}, {"disk": "ssd"}, "node(s) didn't match Pod's node affinity/selector",
                 id="node-selector"),
])
async def test_pods_beyond_capacity_stay_pending_unschedulable(sim, capacity, selector, reason):
    for node in await sim.list("nodes", namespace=""):
        if capacity:
            await trouble.set_node_capacity(sim.storage, node["metadata"]["name"], capacity)
    spec = deployment(replicas=3)
    container = spec["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "600m", "memory": "64Mi"}}
    if selector:
        spec["spec"]["template"]["spec"]["nodeSelector"] = selector
    await sim.create("deployments", spec, "apps")

    async def pending() -> list[Obj] | None:
        pods = await sim.list("pods")
        waiting = [p for p in pods if (meta.condition(p, "PodScheduled") or {}).get(
            "reason") == "Unschedulable"]
        return waiting if len(pods) == 3 and waiting else None
    waiting = await aio.until(pending, 30, "an Unschedulable Pod")
    condition = meta.condition(waiting[0], "PodScheduled")
    assert condition is not None and condition["status"] == "False"
    assert condition["message"].startswith("0/2 nodes are available: 2 " + reason)
    assert waiting[0]["status"]["phase"] == "Pending" and not waiting[0]["spec"].get("nodeName")
    # room appears: the Pods are scheduled
    for node in await sim.list("nodes", namespace=""):
        await trouble.set_node_capacity(sim.storage, node["metadata"]["name"],
                                        {"cpu": "8", "memory": "8Gi", "pods": "110"})
        if selector:
            await sim.patch("nodes", node["metadata"]["name"],
                            {"metadata": {"labels": selector}}, namespace="")
    await wait_deployment(sim, "web", 3)


async def test_fit_message_counts_reasons():
    assert fit.unschedulable_message(3, [["Insufficient cpu"], ["Insufficient cpu"],
                                         ["node(s) were unschedulable"]]).startswith(
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.")


@pytest.mark.parametrize(("policy", "left"), [
    pytest.param("Background", 0, id="background"),
    pytest.param("Foreground", 0, id="foreground"),
    pytest.param("Orphan", 1, id="orphan"),
])
async def test_deleting_a_deployment_collects_what_it_owns(sim, policy, left):
    await sim.create("deployments", deployment(replicas=2), "apps")
    await wait_deployment(sim, "web", 2)
    await sim.delete("deployments", "web", "apps", policy=policy)
    if policy == "Foreground":  # the owner waits, marked, for its dependents
        marked = await sim.get("deployments", "web", "apps")
        assert marked is None or "foregroundDeletion" in marked["metadata"]["finalizers"]

    async def done() -> bool:
        return (await sim.get("deployments", "web", "apps") is None and
                len(await sim.list("replicasets", "apps")) == left and
                len(await sim.list("pods")) == 2 * left)
    await aio.until(done, 30, f"{policy} deletion finished")
    if policy == "Orphan":
        (rs,) = await sim.list("replicasets", "apps")
        assert not rs["metadata"].get("ownerReferences")


async def test_namespace_deletion_terminates_then_removes_everything(sim):
    await sim.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": "team"}}, namespace="")
    await sim.create("deployments", deployment(replicas=2), "apps", namespace="team")

    async def running() -> bool:
        return len(await sim.list("pods", namespace="team")) == 2
    await aio.until(running, 30, "pods in team")
    kind = sim.kind("namespaces")
    marked, _gone = await sim.storage.delete(kind, "", "team")
    assert marked["status"]["phase"] == "Terminating" and marked["metadata"]["deletionTimestamp"]

    async def removed() -> bool:
        return await sim.get("namespaces", "team", namespace="") is None
    await aio.until(removed, 30, "namespace team gone")
    assert await sim.list("pods", namespace="team") == []


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def ready_endpoints(slices: list[Obj]) -> list[Obj]:
    return [e for s in slices for e in s.get("endpoints") or []
            if e["conditions"]["ready"]]


async def slices_of(sim: Member, service: str = "web") -> list[Obj]:
    return [s for s in await sim.list("endpointslices", "discovery.k8s.io")
            if s["metadata"]["labels"].get("kubernetes.io/service-name") == service]


async def test_endpointslices_follow_ready_pods(sim):
    await sim.create("deployments", deployment(replicas=3), "apps")
    await sim.create("services", SERVICE)

    async def three() -> list[Obj] | None:
        slices = await slices_of(sim)
        return slices if len(ready_endpoints(slices)) == 3 else None
    (found,) = await aio.until(three, 30, "3 ready endpoints")
    assert state.slice_ready(found)  # what fedns's members health reads
    assert found["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert found["addressType"] == "IPv4"
    assert found["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslice-controller.k8s.io"
    pods = {p["metadata"]["name"]: p for p in await sim.list("pods")}
    for e in found["endpoints"]:
        pod = pods[e["targetRef"]["name"]]
        assert e["addresses"] == [pod["status"]["podIP"]]
        assert e["nodeName"] == pod["spec"]["nodeName"] and e["zone"] == "us-east-1a"
        assert e["conditions"] == {"ready": True, "serving": True, "terminating": False}
    # one Pod's readiness probe fails: its endpoint is not ready
    victim = min(pods)
    await trouble.set_pod_ready(sim.storage, "default", victim, False)

    async def two() -> bool:
        return len(ready_endpoints(await slices_of(sim))) == 2
    await aio.until(two, 30, "2 ready endpoints")
    # scaled to 0: one empty slice, no ready endpoints
    await sim.patch("deployments", "web", {"spec": {"replicas": 0}}, "apps")

    async def empty() -> list[Obj] | None:
        slices = await slices_of(sim)
        return slices if len(slices) == 1 and not slices[0].get("endpoints") else None
    (placeholder,) = await aio.until(empty, 30, "no endpoints")
    assert not state.slice_ready(placeholder)
    await sim.delete("services", "web")

    async def no_slices() -> bool:
        return not await slices_of(sim)
    await aio.until(no_slices, 30, "slices collected with their Service")


async def test_node_not_ready_makes_its_pods_unready_and_back(sim):
    await sim.create("deployments", deployment(replicas=4), "apps")
    await sim.create("services", SERVICE)
    await wait_deployment(sim, "web", 4)
    await trouble.set_node_ready(sim.storage, "umich-worker", False)

    async def half() -> bool:
        endpoints = ready_endpoints(await slices_of(sim))
        return len(endpoints) == 2 and all(e["nodeName"] == "umich-control-plane"
                                           for e in endpoints)
    await aio.until(half, 30, "only the Ready node's endpoints")
    node = await sim.get("nodes", "umich-worker", namespace="")
    assert {t["key"] for t in node["spec"]["taints"]} == {"node.kubernetes.io/unreachable"}
    await trouble.set_node_ready(sim.storage, "umich-worker", True)

    async def all_back() -> bool:
        return len(ready_endpoints(await slices_of(sim))) == 4
    await aio.until(all_back, 30, "all endpoints ready again")


async def test_failed_pod_is_replaced(sim):
    await sim.create("deployments", deployment(replicas=2), "apps")
    await wait_deployment(sim, "web", 2)
    victim = (await sim.list("pods"))[0]["metadata"]["name"]
    await trouble.fail_pod(sim.storage, "default", victim)

    async def replaced() -> bool:
        pods = await sim.list("pods")
        phases = sorted(p["status"]["phase"] for p in pods)
        return phases == ["Failed", "Running", "Running"] and all(
            meta.pod_ready(p) for p in pods if p["status"]["phase"] == "Running")
    await aio.until(replaced, 30, "a replacement Pod")
    failed = await sim.get("pods", victim)
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


async def test_statefulset_pods_are_ordered(sim):
    await sim.create("statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "c", "image": "pg"}]}}}}, "apps")

    async def ready() -> Obj | None:
        sts = await sim.get("statefulsets", "db", "apps")
        return sts if (sts or {}).get("status", {}).get("readyReplicas") == 3 else None
    sts = await aio.until(ready, 30, "3 ready")
    pods = sorted(await sim.list("pods"), key=lambda p: p["metadata"]["creationTimestamp"])
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1", "db-2"]
    assert pods[0]["spec"]["hostname"] == "db-0" and pods[0]["spec"]["subdomain"] == "db"
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    await sim.patch("statefulsets", "db", {"spec": {"replicas": 1}}, "apps")

    async def one() -> bool:
        return [p["metadata"]["name"] for p in await sim.list("pods")] == ["db-0"]
    await aio.until(one, 30, "scaled down from the highest ordinal")


async def test_daemonset_runs_one_pod_per_node(sim):
    await sim.create("daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "c", "image": "agent"}]}}}},
        "apps")

    async def ready() -> Obj | None:
        ds = await sim.get("daemonsets", "agent", "apps")
        s = (ds or {}).get("status") or {}
        return ds if s.get("numberReady") == 2 == s.get("desiredNumberScheduled") else None
    await aio.until(ready, 30, "one ready Pod per Node")
    pods = await sim.list("pods")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["umich-control-plane",
                                                           "umich-worker"]


@pytest.mark.parametrize(("spec", "annotations", "condition", "succeeded", "failed"), [
    pytest.param({"completions": 3, "parallelism": 2}, {}, "Complete", 3, 0, id="complete"),
    pytest.param({"backoffLimit": 1}, {"sim.fedns.io/phase": "Failed"}, "Failed", 0, 2,
                 id="backoff-limit"),
])
async def test_job_runs_to_its_end(sim, spec, annotations, condition, succeeded, failed):
    await sim.create("jobs", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
        "spec": {**spec, "template": {
            "metadata": {"annotations": annotations},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}},
        "batch")

    async def ended() -> Obj | None:
        job = await sim.get("jobs", "once", "batch")
        found = meta.condition(job or {}, condition)
        return job if found and found["status"] == "True" else None
    job = await aio.until(ended, 30, f"job {condition}")
    assert job["status"].get("succeeded", 0) == succeeded
    assert job["status"].get("failed", 0) == failed
    assert job["status"].get("active", 0) == 0
    if condition == "Complete":
        assert job["status"]["completionTime"]
        assert meta.condition(job, "Complete")["reason"] == "CompletionsReached"
    else:
        assert meta.condition(job, "Failed")["reason"] == "BackoffLimitExceeded"


async def test_cronjob_creates_jobs_on_schedule_with_an_injected_clock():
    # the member's clock runs half a second before the next minute: "* * * * *" fires
    # at once, not up to a minute later
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    start = now.replace(second=59) + datetime.timedelta(milliseconds=500)
    minute = start.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    began = time.monotonic()

    def clock() -> datetime.datetime:
        return start + datetime.timedelta(seconds=time.monotonic() - began)
    member = cluster.Member(cluster.MemberSpec("c", "r", "z", 1, runtime.Settings(0.05, 0.1)),
                            clock=clock)
    await member.start()
    try:
        sim = Member(member)
        await sim.create("cronjobs", {
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"restartPolicy": "OnFailure",
                         "containers": [{"name": "c", "image": "x"}]}}}}}}, "batch")

        async def scheduled() -> Obj | None:
            cj = await sim.get("cronjobs", "tick", "batch")
            return cj if (cj or {}).get("status", {}).get("lastScheduleTime") else None
        cj = await aio.until(scheduled, 30, "the job of the next minute")
        stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert cj["status"]["lastScheduleTime"] == stamp
        jobs = await sim.list("jobs", "batch")
        assert [j["metadata"]["name"] for j in jobs] == \
            [f"tick-{int(minute.timestamp() // 60)}"]
        assert jobs[0]["metadata"]["annotations"][
            "batch.kubernetes.io/cronjob-scheduled-timestamp"] == stamp
        assert meta.controller_uid(jobs[0]) == cj["metadata"]["uid"]

        async def complete() -> bool:
            job = await sim.get("jobs", jobs[0]["metadata"]["name"], "batch")
            return bool(job and (meta.condition(job, "Complete") or {}).get("status") == "True")
        await aio.until(complete, 30, "the job completes")
    finally:
        await member.close()


def _events(events: list[Obj], reason: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["involvedObject"]["kind"], e["message"]) for e in events
            if e["reason"] == reason]


async def test_the_controllers_record_kube_controller_managers_events(sim):
    await sim.create("deployments", deployment(replicas=2), "apps")
    await wait_deployment(sim, "web", 2)
    await sim.patch("deployments", "web", {"spec": {"replicas": 1}}, "apps")
    await wait_deployment(sim, "web", 1)
    rs = (await sim.list("replicasets", "apps"))[0]["metadata"]["name"]
    pods = [p["metadata"]["name"] for p in await sim.list("pods")]

    async def scaled() -> list[Obj] | None:
        events = await sim.list("events")
        return events if len(_events(events, "ScalingReplicaSet")) == 2 else None
    events = await aio.until(scaled, 10, "two ScalingReplicaSet Events")
    assert _events(events, "ScalingReplicaSet") == [
        ("Normal", "Deployment", f"Scaled up replica set {rs} to 2"),
        ("Normal", "Deployment", f"Scaled down replica set {rs} to 1 from 2")]
    scheduled = _events(events, "Scheduled")
    assert len(scheduled) == 2 and all(kind == "Pod" for _, kind, _ in scheduled)
    assert any(message.startswith(f"Successfully assigned default/{pods[0]} to umich-")
               for _, _, message in scheduled)
    scaling = next(e for e in events if e["reason"] == "ScalingReplicaSet")
    assert scaling["source"] == {"component": "deployment-controller"}
    assert scaling["involvedObject"]["uid"] == (await sim.get("deployments", "web", "apps")
                                                )["metadata"]["uid"]


async def test_a_pod_that_fits_nowhere_is_a_failed_scheduling_warning(sim):
    spec = deployment(replicas=1)
    spec["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    await sim.create("deployments", spec, "apps")

    async def warned() -> list[tuple[str, str, str]]:
        return _events(await sim.list("events"), "FailedScheduling")
    (warning,) = await aio.until(warned, 10, "a FailedScheduling Event")
    assert warning[:2] == ("Warning", "Pod")
    assert warning[2].startswith("0/2 nodes are available: 2 node(s) didn't match")
