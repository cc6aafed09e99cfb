"""The simulated Job and CronJob controllers.

Job: keeps ``min(parallelism, completions - succeeded)`` Pods running (Pods run
``run_seconds`` and Succeed, see :mod:`fedns.sim.kubelet`); counts ``active``,
``ready``, ``succeeded`` and ``failed``; ends with ``SuccessCriteriaMet`` and
``Complete`` (reason CompletionsReached) or ``FailureTarget`` and ``Failed`` (reason
BackoffLimitExceeded when more than ``backoffLimit`` Pods failed, DeadlineExceeded
past ``activeDeadlineSeconds``), as kube 1.31+ writes them; ``suspend`` removes the
active Pods (condition Suspended).  Pods carry ``batch.kubernetes.io/job-name``,
``batch.kubernetes.io/controller-uid`` and the legacy ``job-name``/``controller-uid``.

CronJob: parses ``spec.schedule`` (:mod:`fedns.kapi.cron`) in ``spec.timeZone`` and,
at each time it fires, creates the Job ``<cronjob>-<minutes since the epoch>`` from
``jobTemplate`` (unless suspended, past ``startingDeadlineSeconds``, or
``concurrencyPolicy: Forbid`` with one running; Replace deletes the running one);
keeps ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit`` finished Jobs;
status ``active``, ``lastScheduleTime``, ``lastSuccessfulTime``.  The time is the
runtime's clock, so tests inject it.  Not for: Indexed completion, pod failure
policies, success policies.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from fedns.kapi import cron, objects, status
from fedns.sim import meta, replicaset, runtime

Obj = dict[str, Any]

SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
_MISSED_LIMIT = 100


def finished(job: Obj) -> str:
    """``Complete`` or ``Failed`` once the Job has ended, else ``""``."""
    for kind in ("Complete", "Failed"):
        found = meta.condition(job, kind)
        if found and found.get("status") == "True":
            return kind
    return ""


def _parse(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC)
    except ValueError:
        return None


class Jobs(runtime.Controller):
    name = "job"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.kind = rt.kind("jobs", "batch")
        self.pods_kind = rt.kind("pods")
        self.jobs = rt.watch("jobs", "batch", lambda o, n: self.enqueue_obj(n))
        self.owned = replicaset.Owned(rt, self._on_pod)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        for pod in (old, new):
            ref = meta.controller_ref(pod) if pod is not None else None
            if pod is not None and ref is not None and ref.get("kind") == "Job":
                self.enqueue((meta.key(pod)[0], str(ref.get("name", ""))))

    def _pod(self, job: Obj) -> Obj:
        labels = {"batch.kubernetes.io/controller-uid": meta.uid(job),
                  "batch.kubernetes.io/job-name": meta.key(job)[1],
                  "controller-uid": meta.uid(job), "job-name": meta.key(job)[1]}
        return replicaset.pod_from_template(job, (job.get("spec") or {}).get("template"),
                                            extra_labels=labels)

    async def reconcile(self, k: runtime.Key) -> float | None:
        job = self.jobs.get(k[0], k[1])
        if job is None or meta.deleting(job) or finished(job):
            return None
        spec = job.get("spec") or {}
        pods = self.owned.of(job)
        active = [p for p in pods if meta.pod_active(p)]
        old = job.get("status") or {}
        succeeded = max(int(old.get("succeeded", 0)),
                        sum(1 for p in pods if meta.pod_phase(p) == "Succeeded"))
        failed = max(int(old.get("failed", 0)),
                     sum(1 for p in pods if meta.pod_phase(p) == "Failed"))
        now = self.runtime.timestamp()
        new: Obj = {k: v for k, v in old.items() if k in ("startTime", "conditions")}
        conditions = list(new.get("conditions") or [])
        again: float | None = None
        end = ""
        if spec.get("suspend"):
            for pod in active:
                await self.runtime.delete(self.pods_kind, pod)
            active = []
            conditions = meta.set_condition(conditions, "Suspended", "True", "JobSuspended",
                                            "Job suspended", now, heartbeat="lastProbeTime")
        else:
            if meta.condition(job, "Suspended"):
                conditions = meta.set_condition(conditions, "Suspended", "False",
                                                "JobResumed", "Job resumed", now,
                                                heartbeat="lastProbeTime")
            new.setdefault("startTime", now)
            completions = spec.get("completions")
            parallelism = int(spec.get("parallelism", 1))
            deadline = spec.get("activeDeadlineSeconds")
            started = _parse(str(new["startTime"]))
            if failed > int(spec.get("backoffLimit", 6)):
                end = "BackoffLimitExceeded:Job has reached the specified backoff limit"
            elif deadline is not None and started is not None:
                left = (started + datetime.timedelta(seconds=int(deadline))
                        - self.runtime.now()).total_seconds()
                if left <= 0:
                    end = "DeadlineExceeded:Job was active longer than specified deadline"
                else:
                    again = left
            done = succeeded >= int(completions) if completions is not None else \
                succeeded > 0 and not active
            if end:
                for pod in active:
                    await self.runtime.delete(self.pods_kind, pod)
                active = []
                reason, message = end.split(":", 1)
                for kind in ("FailureTarget", "Failed"):
                    conditions = meta.set_condition(conditions, kind, "True", reason, message,
                                                    now, heartbeat="lastProbeTime")
            elif done:
                for kind in ("SuccessCriteriaMet", "Complete"):
                    conditions = meta.set_condition(
                        conditions, kind, "True", "CompletionsReached",
                        "Reached expected number of succeeded pods", now,
                        heartbeat="lastProbeTime")
                new["completionTime"] = now
                again = None
            else:
                want = parallelism if completions is None else \
                    min(parallelism, int(completions) - succeeded)
                if succeeded and completions is None:
                    want = 0  # a work queue Job: once one succeeds, no new Pods
                for _ in range(max(0, want - len(active))):
                    active.append(await self.runtime.create(self.pods_kind, self._pod(job)))
                for pod in sorted(active, key=replicaset.deletion_rank)[:max(0, len(active)
                                                                              - want)]:
                    await self.runtime.delete(self.pods_kind, pod)
                    active.remove(pod)
        new.update({"active": len(active), "succeeded": succeeded, "failed": failed,
                    "ready": sum(1 for p in active if meta.pod_ready(p)), "terminating": 0,
                    "uncountedTerminatedPods": {}})
        new = {k: v for k, v in new.items() if v or k in ("ready", "terminating",
                                                          "uncountedTerminatedPods")}
        if conditions:
            new["conditions"] = conditions
        if new != old:
            await self.runtime.update_status(self.kind, job, new)
        return again


class CronJobs(runtime.Controller):
    name = "cronjob"

    def __init__(self, rt: runtime.Runtime) -> None:
        super().__init__(rt)
        self.kind = rt.kind("cronjobs", "batch")
        self.jobs_kind = rt.kind("jobs", "batch")
        self.cronjobs = rt.watch("cronjobs", "batch", lambda o, n: self.enqueue_obj(n))
        self.jobs = replicaset.Owned(rt, self._on_job, "jobs", "batch")

    def _on_job(self, old: Obj | None, new: Obj | None) -> None:
        for k in replicaset.controllers_of("CronJob", old, new):
            self.enqueue(k)

    def _zone(self, cj: Obj) -> datetime.tzinfo:
        name = (cj.get("spec") or {}).get("timeZone")
        if not name:
            return datetime.UTC
        try:
            return zoneinfo.ZoneInfo(str(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return datetime.UTC

    async def reconcile(self, k: runtime.Key) -> float | None:
        cj = self.cronjobs.get(k[0], k[1])
        if cj is None or meta.deleting(cj):
            return None
        spec = cj.get("spec") or {}
        try:
            schedule = cron.parse(str(spec.get("schedule", "")))
        except cron.BadSchedule:
            return None
        zone = self._zone(cj)
        now = self.runtime.now().astimezone(zone)
        jobs = sorted(self.jobs.of(cj),
                      key=lambda j: str(meta.meta(j).get("creationTimestamp") or ""))
        running = [j for j in jobs if not finished(j) and not meta.deleting(j)]
        old = cj.get("status") or {}
        new = {k: v for k, v in old.items() if k in ("lastScheduleTime",
                                                      "lastSuccessfulTime")}
        for job in jobs:
            completed = (job.get("status") or {}).get("completionTime")
            if finished(job) == "Complete" and completed and \
                    completed > str(new.get("lastSuccessfulTime", "")):
                new["lastSuccessfulTime"] = completed
        for outcome, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)),
                               ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            ended = [j for j in jobs if finished(j) == outcome and not meta.deleting(j)]
            for job in ended[:max(0, len(ended) - int(limit))]:
                await self.runtime.delete(self.jobs_kind, job)
        since = _parse(str(old.get("lastScheduleTime") or
                            meta.meta(cj).get("creationTimestamp") or ""))
        due = None
        if since is not None:
            cursor = since.astimezone(zone)
            for _ in range(_MISSED_LIMIT + 1):
                following = cron.next_time(schedule, cursor)
                if following is None or following > now:
                    break
                due = cursor = following
            else:
                # too many missed start times: catch up to the latest one, as upstream
                while (following := cron.next_time(schedule, cursor)) is not None and \
                        following <= now:
                    due = cursor = following
        deadline = spec.get("startingDeadlineSeconds")
        if due is not None and not spec.get("suspend") and (
                deadline is None or (now - due).total_seconds() <= int(deadline)):
            policy = spec.get("concurrencyPolicy", "Allow")
            if policy == "Replace":
                for job in running:
                    await self.runtime.delete(self.jobs_kind, job)
                running = []
            if policy != "Forbid" or not running:
                running.append(await self._create(cj, due))
                new["lastScheduleTime"] = objects.timestamp(due.astimezone(datetime.UTC))
        new["active"] = [{"kind": "Job", "namespace": k[0], "name": meta.key(j)[1],
                          "uid": meta.uid(j), "apiVersion": "batch/v1",
                          "resourceVersion": meta.meta(j).get("resourceVersion", "")}
                         for j in running]
        if not new["active"]:
            del new["active"]
        if new != old:
            await self.runtime.update_status(self.kind, cj, new)
        following = cron.next_time(schedule, now)
        return None if following is None else (following - now).total_seconds() + 0.01

    async def _create(self, cj: Obj, due: datetime.datetime) -> Obj:
        template = objects.clone((cj.get("spec") or {}).get("jobTemplate") or {})
        template_meta = template.get("metadata") or {}
        name = f"{meta.key(cj)[1]}-{int(due.timestamp() // 60)}"
        annotations = dict(template_meta.get("annotations") or {})
        annotations[SCHEDULED] = due.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": meta.key(cj)[0],
                            "labels": dict(template_meta.get("labels") or {}),
                            "annotations": annotations,
                            "ownerReferences": [meta.owner_ref(cj)]},
               "spec": template.get("spec") or {}}
        try:
            return await self.runtime.create(self.jobs_kind, job)
        except status.ApiError as err:
            if err.reason != "AlreadyExists":
                raise
            return await self.runtime.storage.get(self.jobs_kind, meta.key(cj)[0], name)
