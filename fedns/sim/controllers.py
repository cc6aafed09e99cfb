"""Every controller of a simulated member, wired to one :class:`runtime.Runtime`.

:func:`build` makes the runtime with the scheduler, the kubelets, the workload
controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), the
EndpointSlice controller and the garbage collector; kinds the registry does not
serve are skipped.  Not for: the API server (see :mod:`fedns.sim.cluster`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from fedns.kapi import storage
from fedns.sim import (
    deployment,
    endpointslice,
    gc,
    jobs,
    kubelet,
    replicaset,
    runtime,
    scheduler,
    statefulset,
)


def build(store: storage.Storage, settings: runtime.Settings | None = None,
          clock: Callable[[], datetime.datetime] = runtime.utc_now) -> runtime.Runtime:
    rt = runtime.Runtime(store, settings, clock)
    rt.add(scheduler.Scheduler(rt))
    rt.add(kubelet.Kubelet(rt))
    rt.add(replicaset.ReplicaSets(rt))
    rt.add(deployment.Deployments(rt))
    for plural, group, controller in (
            ("statefulsets", "apps", statefulset.StatefulSets),
            ("daemonsets", "apps", statefulset.DaemonSets),
            ("jobs", "batch", jobs.Jobs),
            ("cronjobs", "batch", jobs.CronJobs)):
        if rt.has(plural, group):
            rt.add(controller(rt))
    rt.add(endpointslice.EndpointSlices(rt))
    rt.add(gc.GarbageCollector(rt))
    return rt
