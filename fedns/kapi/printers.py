"""Table printers of the built-in kinds: the columns kubectl shows against a real cluster.

Each printer copies the column names and cell rendering of kube-apiserver's
``pkg/printers/internalversion/printers.go`` (rendered with ``Wide: true``, as the
server does; kubectl hides priority-1 columns unless ``-o wide``).  Pure.
"""

from __future__ import annotations

import datetime
from typing import Any

from fedns.kapi import selectors, tables
from fedns.kapi.tables import AGE, NAME, Column, Printer, age, meta

Obj = dict[str, Any]
Now = datetime.datetime


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _name(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def _age(obj: Obj, now: Now) -> str:
    return age(meta(obj).get("creationTimestamp"), now)


def _labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: ``a=b,c=d`` sorted, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# -- Service -----------------------------------------------------------------

def service_ports(ports: list[Obj] | None) -> str:
    pieces = []
    for port in ports or []:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            pieces.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def load_balancer_ips(status: Obj) -> str:
    found = set()
    for ingress in (status.get("loadBalancer") or {}).get("ingress") or []:
        if ingress.get("ip"):
            found.add(ingress["ip"])
        elif ingress.get("hostname"):
            found.add(ingress["hostname"])
    return ",".join(sorted(found))


def service_external_ip(obj: Obj) -> str:
    spec = _spec(obj)
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = load_balancer_ips(_status(obj))
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + external)
        return lb or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_row(obj: Obj, now: Now) -> tables.Cells:
    spec = _spec(obj)
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [_name(obj), spec.get("type") or "ClusterIP",
            cluster_ips[0] if cluster_ips else "<none>", service_external_ip(obj),
            service_ports(spec.get("ports")), _age(obj, now), _labels(spec.get("selector"))]


SERVICE = Printer((NAME, Column("Type"), Column("Cluster-IP"), Column("External-IP"),
                   Column("Port(s)"), AGE, Column("Selector", priority=1)), _service_row)


# -- Node --------------------------------------------------------------------

def node_status(obj: Obj) -> str:
    states = []
    for condition in _status(obj).get("conditions") or []:
        if condition.get("type") == "Ready":
            states.append("Ready" if condition.get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if _spec(obj).get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def node_roles(obj: Obj) -> str:
    roles = set()
    for key, value in (meta(obj).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(obj: Obj, kind: str) -> str:
    for address in _status(obj).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def _node_row(obj: Obj, now: Now) -> tables.Cells:
    info = _status(obj).get("nodeInfo") or {}
    return [_name(obj), node_status(obj), node_roles(obj), _age(obj, now),
            info.get("kubeletVersion", ""), _node_address(obj, "InternalIP"),
            _node_address(obj, "ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


NODE = Printer((NAME, Column("Status"), Column("Roles"), AGE, Column("Version"),
                Column("Internal-IP", priority=1), Column("External-IP", priority=1),
                Column("OS-Image", priority=1), Column("Kernel-Version", priority=1),
                Column("Container-Runtime", priority=1)), _node_row)

NAMESPACE = Printer((NAME, Column("Status"), AGE),
                    lambda o, now: [_name(o), _status(o).get("phase", ""), _age(o, now)])


# -- workloads ---------------------------------------------------------------

def _containers(obj: Obj) -> list[Obj]:
    template = _spec(obj).get("template") or {}
    return list((template.get("spec") or {}).get("containers") or [])


def _wide_workload(obj: Obj) -> list[str]:
    containers = _containers(obj)
    return [",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers),
            selectors.format_label_selector(_spec(obj).get("selector"))]


_WIDE_WORKLOAD = (Column("Containers", priority=1), Column("Images", priority=1),
                  Column("Selector", priority=1))


def _deployment_row(obj: Obj, now: Now) -> tables.Cells:
    spec, status = _spec(obj), _status(obj)
    desired = spec.get("replicas", 1)
    return [_name(obj), f"{status.get('readyReplicas', 0)}/{desired}",
            int(status.get("updatedReplicas", 0)), int(status.get("availableReplicas", 0)),
            _age(obj, now), *_wide_workload(obj)]


DEPLOYMENT = Printer((NAME, Column("Ready"), Column("Up-to-date", "integer"),
                      Column("Available", "integer"), AGE, *_WIDE_WORKLOAD), _deployment_row)


def _replicaset_row(obj: Obj, now: Now) -> tables.Cells:
    status = _status(obj)
    return [_name(obj), int(_spec(obj).get("replicas", 1)), int(status.get("replicas", 0)),
            int(status.get("readyReplicas", 0)), _age(obj, now), *_wide_workload(obj)]


REPLICASET = Printer((NAME, Column("Desired", "integer"), Column("Current", "integer"),
                      Column("Ready", "integer"), AGE, *_WIDE_WORKLOAD), _replicaset_row)


def _daemonset_row(obj: Obj, now: Now) -> tables.Cells:
    status = _status(obj)
    template = _spec(obj).get("template") or {}
    node_selector = (template.get("spec") or {}).get("nodeSelector")
    return [_name(obj), int(status.get("desiredNumberScheduled", 0)),
            int(status.get("currentNumberScheduled", 0)), int(status.get("numberReady", 0)),
            int(status.get("updatedNumberScheduled", 0)),
            int(status.get("numberAvailable", 0)), _labels(node_selector), _age(obj, now),
            *_wide_workload(obj)]


DAEMONSET = Printer((NAME, Column("Desired", "integer"), Column("Current", "integer"),
                     Column("Ready", "integer"), Column("Up-to-date", "integer"),
                     Column("Available", "integer"), Column("Node Selector"), AGE,
                     *_WIDE_WORKLOAD), _daemonset_row)


def _statefulset_row(obj: Obj, now: Now) -> tables.Cells:
    ready = _status(obj).get("readyReplicas", 0)
    return [_name(obj), f"{ready}/{_spec(obj).get('replicas', 1)}", _age(obj, now),
            *_wide_workload(obj)[:2]]


STATEFULSET = Printer((NAME, Column("Ready"), AGE, *_WIDE_WORKLOAD[:2]), _statefulset_row)


def _cronjob_row(obj: Obj, now: Now) -> tables.Cells:
    spec, status = _spec(obj), _status(obj)
    template = ((spec.get("jobTemplate") or {}).get("spec") or {})
    containers = ((template.get("template") or {}).get("spec") or {}).get("containers") or []
    last = status.get("lastScheduleTime")
    return [_name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            "True" if spec.get("suspend") else "False", len(status.get("active") or []),
            age(last, now) if last else "<none>", _age(obj, now),
            ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers),
            selectors.format_label_selector(template.get("selector"))]


CRONJOB = Printer((NAME, Column("Schedule"), Column("Timezone"), Column("Suspend"),
                   Column("Active", "integer"), Column("Last Schedule"), AGE,
                   *_WIDE_WORKLOAD), _cronjob_row)


def _job_status(obj: Obj) -> str:
    """printJob's precedence: Complete, Failed, Terminating, Suspended, FailureTarget,
    SuccessCriteriaMet, else Running (a Job has several of them at once)."""
    true = {c.get("type") for c in _status(obj).get("conditions") or []
            if c.get("status") == "True"}
    for kind in ("Complete", "Failed"):
        if kind in true:
            return kind
    if meta(obj).get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if kind in true:
            return kind
    return "Running"


def _job_row(obj: Obj, now: Now) -> tables.Cells:
    spec, status = _spec(obj), _status(obj)
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start = tables.parse_time(status.get("startTime"))
    end = tables.parse_time(status.get("completionTime")) or now
    duration = tables.human_duration((end - start).total_seconds()) if start else ""
    return [_name(obj), _job_status(obj), completions, duration, _age(obj, now),
            *_wide_workload(obj)]


JOB = Printer((NAME, Column("Status"), Column("Completions"), Column("Duration"), AGE,
               *_WIDE_WORKLOAD), _job_row)


def _hpa_targets(obj: Obj) -> str:
    parts = []
    for metric in _spec(obj).get("metrics") or []:
        if metric.get("type") == "Resource":
            resource = metric.get("resource") or {}
            target = resource.get("target") or {}
            wanted = (f"{target['averageUtilization']}%" if "averageUtilization" in target
                      else str(target.get("averageValue") or target.get("value") or ""))
            parts.append(f"{resource.get('name', '')}: <unknown>/{wanted}")
        else:
            parts.append("<unknown>/<unknown>")
    return ", ".join(parts) or "<none>"


def _hpa_row(obj: Obj, now: Now) -> tables.Cells:
    spec = _spec(obj)
    ref = spec.get("scaleTargetRef") or {}
    return [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _hpa_targets(obj),
            spec.get("minReplicas", 1), int(spec.get("maxReplicas", 0)),
            int(_status(obj).get("currentReplicas", 0)), _age(obj, now)]


HPA = Printer((NAME, Column("Reference"), Column("Targets"), Column("MinPods"),
               Column("MaxPods", "integer"), Column("Replicas", "integer"), AGE), _hpa_row)


def _ingress_row(obj: Obj, now: Now) -> tables.Cells:
    spec = _spec(obj)
    hosts = [r["host"] for r in spec.get("rules") or [] if r.get("host")]
    ports = "80, 443" if spec.get("tls") else "80"
    address = load_balancer_ips(_status(obj))
    return [_name(obj), spec.get("ingressClassName") or "<none>", ",".join(hosts) or "*",
            address, ports, _age(obj, now)]


INGRESS = Printer((NAME, Column("Class"), Column("Hosts"), Column("Address"), Column("Ports"),
                   AGE), _ingress_row)


def _pod_row(obj: Obj, now: Now) -> tables.Cells:
    containers = _spec(obj).get("containers") or []
    statuses = _status(obj).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = _status(obj).get("reason") or _status(obj).get("phase") or "Pending"
    if meta(obj).get("deletionTimestamp"):
        phase = "Terminating"
    return [_name(obj), f"{ready}/{len(containers)}", phase, str(restarts), _age(obj, now),
            _status(obj).get("podIP") or "<none>", _spec(obj).get("nodeName") or "<none>",
            "<none>", "<none>"]


POD = Printer((NAME, Column("Ready"), Column("Status"), Column("Restarts"), AGE,
               Column("IP", priority=1), Column("Node", priority=1),
               Column("Nominated Node", priority=1), Column("Readiness Gates", priority=1)),
              _pod_row)


# -- networking and config -----------------------------------------------------

def _more(items: list[str], count: int, limit: int = 3, empty: str = "<unset>") -> str:
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or empty


def endpointslice_ports(ports: list[Obj] | None) -> str:
    names = []
    for port in ports or []:
        if port.get("port") is not None:
            names.append(str(port["port"]))
        elif port.get("name") is not None:
            names.append(str(port["name"]))
        else:
            names.append("*")
    return _more(names, len(names))


def endpointslice_endpoints(endpoints: list[Obj] | None) -> str:
    if not endpoints:
        return "<unset>"
    addresses = [a for e in endpoints for a in e.get("addresses") or []]
    return _more(addresses, len(addresses))


ENDPOINTSLICE = Printer(
    (NAME, Column("AddressType"), Column("Ports"), Column("Endpoints"), AGE),
    lambda o, now: [_name(o), o.get("addressType", ""), endpointslice_ports(o.get("ports")),
                    endpointslice_endpoints(o.get("endpoints")), _age(o, now)])


def endpoints_list(subsets: list[Obj] | None) -> str:
    found = []
    for subset in subsets or []:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            found.extend(addresses)
        for port in ports:
            found.extend(f"{ip}:{port.get('port')}" for ip in addresses)
    return _more(found, len(found), empty="<none>")


ENDPOINTS = Printer((NAME, Column("Endpoints"), AGE),
                    lambda o, now: [_name(o), endpoints_list(o.get("subsets")), _age(o, now)])

CONFIGMAP = Printer((NAME, Column("Data", "integer"), AGE),
                    lambda o, now: [_name(o), len(o.get("data") or {}) +
                                    len(o.get("binaryData") or {}), _age(o, now)])

SECRET = Printer((NAME, Column("Type"), Column("Data", "integer"), AGE),
                 lambda o, now: [_name(o), o.get("type", "Opaque"),
                                 len(o.get("data") or {}), _age(o, now)])


def _event_row(obj: Obj, now: Now) -> tables.Cells:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or obj.get("firstTimestamp") \
        or meta(obj).get("creationTimestamp")
    source = obj.get("source") or {}
    return [age(last, now), obj.get("type", ""), obj.get("reason", ""),
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            involved.get("fieldPath", ""),
            source.get("component", "") or obj.get("reportingComponent", ""),
            obj.get("message", ""), age(obj.get("firstTimestamp") or meta(obj).get("creationTimestamp"), now),
            int(obj.get("count", 1) or 1), _name(obj)]


EVENT = Printer((Column("Last Seen"), Column("Type"), Column("Reason"), Column("Object"),
                 Column("Subobject", priority=1), Column("Source", priority=1),
                 Column("Message"), Column("First Seen", priority=1),
                 Column("Count", "integer", priority=1),
                 Column("Name", format="name", priority=1)), _event_row)
