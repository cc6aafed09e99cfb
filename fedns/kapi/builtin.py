"""The built-in kinds a member cluster serves, with kube-apiserver's defaults.

:func:`registry` returns a fresh :class:`fedns.kapi.registry.Registry` holding them;
callers add their own kinds to it (one ``add`` each).  Defaults cover what clients
read back (Service type and ports, Deployment strategy and replicas, pod template
fields that ``kubectl describe`` prints).  There are no controllers here: a
simulated member runs them (:mod:`fedns.sim.controllers`); elsewhere Deployment and
Job status stay as written.
"""

from __future__ import annotations

from typing import Any

from fedns.kapi import clusterkinds, cron, objects, printers, services
from fedns.kapi.registry import Kind, Registry

Obj = dict[str, Any]


def _default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            image = str(container.get("image", ""))
            tag = image.rsplit("/", 1)[-1]
            latest = ":" not in tag or tag.endswith(":latest")
            container.setdefault("imagePullPolicy",
                                 "Always" if latest and "@" not in image else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _default_template(obj: Obj) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        _default_pod_spec(template.setdefault("spec", {}))
        template.setdefault("metadata", {})


def default_deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    _default_template(obj)


def default_replicaset(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _default_template(obj)


def default_daemonset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    _default_template(obj)


def default_statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"partition": 0})
    spec.setdefault("persistentVolumeClaimRetentionPolicy",
                    {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _default_template(obj)


def default_cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = spec.get("jobTemplate")
    if isinstance(template, dict):
        default_job(template)


def default_job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    template = spec.get("template")
    if isinstance(template, dict):
        _default_pod_spec(template.setdefault("spec", {}))
        template["spec"]["restartPolicy"] = template["spec"].get("restartPolicy", "Never")


def default_pod(obj: Obj) -> None:
    _default_pod_spec(obj.setdefault("spec", {}))
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def default_namespace(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    name = str(objects.meta(obj).get("name", ""))
    objects.meta(obj).setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def validate_namespace(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    if old is None:
        name = str(objects.meta(new).get("name", ""))
        return [("metadata.name", p) for p in objects.name_problems(name, "label")]
    return []


def default_secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    clusterkinds.merge_string_data(obj)


def validate_endpointslice(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    kinds = ("IPv4", "IPv6", "FQDN")
    value = new.get("addressType")
    if value is None:
        return [("addressType", "Required value")]
    if value not in kinds:
        return [("addressType", (f'Unsupported value: "{value}": supported values: '
                                '"FQDN", "IPv4", "IPv6"'))]
    if old is not None and old.get("addressType") != value:
        return [("addressType", f'Invalid value: "{value}": field is immutable')]
    return []


def validate_workload(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    spec = new.get("spec") or {}
    selector = spec.get("selector")
    causes = []
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or
                                              selector.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    if "replicas" in spec and (not isinstance(spec["replicas"], int) or spec["replicas"] < 0):
        causes.append(("spec.replicas", (f"Invalid value: {spec['replicas']}: must be greater "
                                        "than or equal to 0")))
    return causes


def validate_cronjob(new: Obj, old: Obj | None) -> list[tuple[str, str]]:
    schedule = (new.get("spec") or {}).get("schedule")
    if not isinstance(schedule, str) or not schedule.strip():
        return [("spec.schedule", "Required value")]
    try:
        cron.parse(schedule)
    except cron.BadSchedule as err:
        return [("spec.schedule", f'Invalid value: "{schedule}": {err}')]
    return []


_ALL = ("all",)

KINDS: tuple[Kind, ...] = (
    Kind("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
         status=True, printer=printers.NAMESPACE, strategic=True, default=default_namespace,
         validate=validate_namespace),
    Kind("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), status=True,
         status_on_create=True, printer=printers.NODE, strategic=True),
    Kind("", "v1", "services", "Service", short_names=("svc",), categories=_ALL, status=True,
         printer=printers.SERVICE, strategic=True, return_deleted=True, default=services.default,
         validate=services.validate, prepare=services.prepare),
    Kind("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints",
         printer=printers.ENDPOINTS, strategic=True),
    Kind("", "v1", "pods", "Pod", short_names=("po",), categories=_ALL, status=True,
         status_on_create=True, printer=printers.POD, strategic=True, return_deleted=True,
         default=default_pod),
    Kind("", "v1", "configmaps", "ConfigMap", short_names=("cm",), printer=printers.CONFIGMAP,
         strategic=True),
    Kind("", "v1", "secrets", "Secret", printer=printers.SECRET, strategic=True,
         default=default_secret),
    Kind("", "v1", "events", "Event", short_names=("ev",), printer=printers.EVENT,
         strategic=True),
    Kind("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=_ALL,
         status=True, printer=printers.DEPLOYMENT, strategic=True, default=default_deployment,
         validate=validate_workload),
    Kind("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=_ALL,
         status=True, printer=printers.REPLICASET, strategic=True, default=default_replicaset,
         validate=validate_workload),
    Kind("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=_ALL,
         status=True, printer=printers.DAEMONSET, strategic=True, default=default_daemonset,
         validate=validate_workload),
    Kind("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=_ALL,
         status=True, printer=printers.STATEFULSET, strategic=True,
         default=default_statefulset, validate=validate_workload),
    Kind("batch", "v1", "jobs", "Job", categories=_ALL, status=True, printer=printers.JOB,
         strategic=True, default=default_job),
    Kind("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=_ALL,
         status=True, printer=printers.CRONJOB, strategic=True, default=default_cronjob,
         validate=validate_cronjob),
    Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
         short_names=("hpa",), categories=_ALL, status=True, printer=printers.HPA,
         strategic=True),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), status=True,
         printer=printers.INGRESS, strategic=True),
    Kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice",
         printer=printers.ENDPOINTSLICE, strategic=True, validate=validate_endpointslice),
)


def registry() -> Registry:
    """A new registry with every built-in kind (and the scale subresource on the
    scalable workloads)."""
    return Registry(clusterkinds.with_scale(kind) for kind in KINDS + clusterkinds.KINDS)
