"""The JSON types of the fields kapi and its readers rely on, checked before any hook runs.

kube-apiserver decodes a body into Go structs, so ``"spec": true`` on a Service or
``"replicas": "3"`` on a Deployment is refused before anything reads it.  kapi keeps
objects as JSON, so :func:`check` does that part of decoding: for the fields of
:data:`SHAPES` (every kind's metadata, ``spec`` and ``status``, and per built-in kind
the fields its defaults, validation, printers and the simulated controllers read) it
returns a :class:`Problem` per value of the wrong JSON type.  Like Go's decoder it
treats ``null`` as absent (the key is removed) and a ``null`` item of a list of objects
or of a string map as the empty value.  Fields it does not list are left alone, as
is anything below them.  Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fedns.kapi import status
from fedns.kapi.registry import Kind

Obj = dict[str, Any]

# field types, named as OpenAPI names JSON types
OBJECT, ARRAY, STRING, INTEGER, BOOLEAN = "object", "array", "string", "integer", "boolean"
INT_OR_STRING = "int-or-string"
TIME = "time"  # an RFC 3339 string (metav1.Time)
STRING_MAP = "map[string]string"  # an object whose values are strings
STRINGS = "[]string"  # an array of strings
INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)
# RFC 3339 as Go's time.Parse(time.RFC3339, ...) takes it: T, Z or an offset, fractions
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_PROBLEMS = 20  # a body of many wrong fields still gets a readable answer


@dataclasses.dataclass(frozen=True)
class Problem:
    field: str  # spec.ports[0].port
    expected: str  # an OpenAPI type name, or "RFC 3339 time"
    found: str  # the JSON type found: string, boolean, ...

    def message(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.found}"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


# -- the table -----------------------------------------------------------------------

def _fields(prefix: str, names: Iterable[str], kind: str) -> dict[str, str]:
    return {f"{prefix}{name}": kind for name in names}


_OBJECT_LIST = ARRAY + "[]object"  # an array whose items are objects

METADATA: dict[str, str] = {
    "apiVersion": STRING, "kind": STRING, "metadata": OBJECT,
    **_fields("metadata.", ("name", "generateName", "namespace", "uid", "resourceVersion",
                            "selfLink"), STRING),
    "metadata.generation": INTEGER, "metadata.deletionGracePeriodSeconds": INTEGER,
    "metadata.creationTimestamp": TIME, "metadata.deletionTimestamp": TIME,
    "metadata.labels": STRING_MAP, "metadata.annotations": STRING_MAP,
    "metadata.finalizers": STRINGS,
    "metadata.ownerReferences": _OBJECT_LIST,
    **_fields("metadata.ownerReferences[].", ("apiVersion", "kind", "name", "uid"), STRING),
    **_fields("metadata.ownerReferences[].", ("controller", "blockOwnerDeletion"), BOOLEAN),
    "metadata.managedFields": _OBJECT_LIST,
    **_fields("metadata.managedFields[].", ("manager", "operation", "apiVersion",
                                            "fieldsType", "subresource"), STRING),
    "metadata.managedFields[].time": TIME, "metadata.managedFields[].fieldsV1": OBJECT,
}
SPEC_STATUS = {"spec": OBJECT, "status": OBJECT}


def _conditions(prefix: str) -> dict[str, str]:
    return {prefix: _OBJECT_LIST,
            **_fields(prefix + "[].", ("type", "status", "reason", "message"), STRING),
            **_fields(prefix + "[].", ("lastTransitionTime", "lastUpdateTime",
                                       "lastProbeTime", "lastHeartbeatTime"), TIME)}


def _label_selector(prefix: str) -> dict[str, str]:
    return {prefix: OBJECT, prefix + ".matchLabels": STRING_MAP,
            prefix + ".matchExpressions": _OBJECT_LIST,
            prefix + ".matchExpressions[].key": STRING,
            prefix + ".matchExpressions[].operator": STRING,
            prefix + ".matchExpressions[].values": STRINGS}


def _load_balancer(prefix: str) -> dict[str, str]:
    return {prefix: OBJECT, prefix + ".ingress": _OBJECT_LIST,
            **_fields(prefix + ".ingress[].", ("ip", "hostname", "ipMode"), STRING),
            prefix + ".ingress[].ports": _OBJECT_LIST}


def _containers(prefix: str) -> dict[str, str]:
    item = prefix + "[]."
    return {prefix: _OBJECT_LIST,
            **_fields(item, ("name", "image", "imagePullPolicy", "terminationMessagePath",
                             "terminationMessagePolicy", "workingDir"), STRING),
            item + "command": STRINGS, item + "args": STRINGS,
            item + "ports": _OBJECT_LIST,
            **_fields(item + "ports[].", ("containerPort", "hostPort"), "int32"),
            **_fields(item + "ports[].", ("protocol", "name", "hostIP"), STRING),
            item + "env": _OBJECT_LIST,
            **_fields(item + "env[].", ("name", "value"), STRING),
            **_fields(item, ("resources", "securityContext", "livenessProbe",
                             "readinessProbe", "startupProbe"), OBJECT)}


def _pod_spec(prefix: str) -> dict[str, str]:
    return {prefix: OBJECT, **_containers(prefix + ".containers"),
            **_containers(prefix + ".initContainers"),
            **_fields(prefix + ".", ("restartPolicy", "dnsPolicy", "schedulerName",
                                     "serviceAccountName", "nodeName", "hostname",
                                     "subdomain", "priorityClassName"), STRING),
            prefix + ".terminationGracePeriodSeconds": INTEGER,
            prefix + ".activeDeadlineSeconds": INTEGER,
            prefix + ".nodeSelector": STRING_MAP,
            **_fields(prefix + ".", ("securityContext", "affinity"), OBJECT),
            **_fields(prefix + ".", ("volumes", "tolerations", "imagePullSecrets"),
                      _OBJECT_LIST)}


def _template(prefix: str) -> dict[str, str]:
    return {prefix: OBJECT, prefix + ".metadata": OBJECT,
            prefix + ".metadata.labels": STRING_MAP,
            prefix + ".metadata.annotations": STRING_MAP,
            **_pod_spec(prefix + ".spec")}


def _strategy(prefix: str) -> dict[str, str]:
    return {prefix: OBJECT, prefix + ".type": STRING, prefix + ".rollingUpdate": OBJECT,
            prefix + ".rollingUpdate.maxSurge": INT_OR_STRING,
            prefix + ".rollingUpdate.maxUnavailable": INT_OR_STRING}


_WORKLOAD = {
    **_label_selector("spec.selector"), **_template("spec.template"),
    **_fields("spec.", ("replicas", "minReadySeconds", "revisionHistoryLimit",
                        "progressDeadlineSeconds"), "int32"),
    "spec.paused": BOOLEAN,
    **_fields("status.", ("replicas", "readyReplicas", "updatedReplicas",
                          "availableReplicas", "unavailableReplicas", "fullyLabeledReplicas",
                          "collisionCount", "terminatingReplicas"), "int32"),
    "status.observedGeneration": INTEGER, **_conditions("status.conditions"),
}

_PORTS = {"spec.ports": _OBJECT_LIST,
          **_fields("spec.ports[].", ("name", "protocol", "appProtocol"), STRING),
          **_fields("spec.ports[].", ("port", "nodePort"), "int32"),
          "spec.ports[].targetPort": INT_OR_STRING}

_ADDRESSES = {**_fields("[].", ("ip", "hostname", "nodeName"), STRING)}

# (group, kind) -> field -> type, besides METADATA; a kind not listed has SPEC_STATUS
SHAPES: dict[tuple[str, str], dict[str, str]] = {
    ("", "Namespace"): {**SPEC_STATUS, "spec.finalizers": STRINGS, "status.phase": STRING,
                        **_conditions("status.conditions")},
    ("", "Node"): {**SPEC_STATUS, "spec.unschedulable": BOOLEAN, "spec.podCIDR": STRING,
                   "spec.podCIDRs": STRINGS, "spec.providerID": STRING,
                   "spec.taints": _OBJECT_LIST,
                   **_fields("spec.taints[].", ("key", "value", "effect"), STRING),
                   **_conditions("status.conditions"),
                   "status.addresses": _OBJECT_LIST,
                   **_fields("status.addresses[].", ("type", "address"), STRING),
                   "status.nodeInfo": OBJECT,
                   **_fields("status.nodeInfo.", (
                       "kubeletVersion", "osImage", "kernelVersion", "containerRuntimeVersion",
                       "kubeProxyVersion", "operatingSystem", "architecture", "machineID",
                       "systemUUID", "bootID"), STRING),
                   "status.capacity": OBJECT, "status.allocatable": OBJECT},
    ("", "Service"): {
        **SPEC_STATUS, **_PORTS,
        **_fields("spec.", ("type", "clusterIP", "externalName", "loadBalancerIP",
                            "loadBalancerClass", "sessionAffinity", "externalTrafficPolicy",
                            "internalTrafficPolicy", "ipFamilyPolicy", "trafficDistribution"),
                  STRING),
        **_fields("spec.", ("clusterIPs", "externalIPs", "ipFamilies",
                            "loadBalancerSourceRanges"), STRINGS),
        "spec.selector": STRING_MAP,
        **_fields("spec.", ("allocateLoadBalancerNodePorts", "publishNotReadyAddresses"),
                  BOOLEAN),
        "spec.healthCheckNodePort": "int32",
        **_load_balancer("status.loadBalancer"), **_conditions("status.conditions")},
    ("", "Endpoints"): {
        "subsets": _OBJECT_LIST, "subsets[].addresses": _OBJECT_LIST,
        "subsets[].notReadyAddresses": _OBJECT_LIST,
        **{f"subsets[].addresses{k}": v for k, v in _ADDRESSES.items()},
        **{f"subsets[].notReadyAddresses{k}": v for k, v in _ADDRESSES.items()},
        "subsets[].ports": _OBJECT_LIST, "subsets[].ports[].port": "int32",
        **_fields("subsets[].ports[].", ("name", "protocol", "appProtocol"), STRING)},
    ("", "Pod"): {
        **SPEC_STATUS, **_pod_spec("spec"),
        **_fields("status.", ("phase", "reason", "message", "podIP", "hostIP",
                              "nominatedNodeName", "qosClass"), STRING),
        "status.podIPs": _OBJECT_LIST, "status.podIPs[].ip": STRING,
        "status.startTime": TIME, **_conditions("status.conditions"),
        **{f"status.{which}": _OBJECT_LIST
           for which in ("containerStatuses", "initContainerStatuses")},
        **{f"status.{which}[].{field}": kind
           for which in ("containerStatuses", "initContainerStatuses")
           for field, kind in (("name", STRING), ("image", STRING), ("imageID", STRING),
                               ("containerID", STRING), ("ready", BOOLEAN),
                               ("started", BOOLEAN), ("restartCount", "int32"),
                               ("state", OBJECT), ("lastState", OBJECT))}},
    ("", "ConfigMap"): {"data": STRING_MAP, "binaryData": STRING_MAP, "immutable": BOOLEAN},
    ("", "Secret"): {"data": STRING_MAP, "stringData": STRING_MAP, "type": STRING,
                     "immutable": BOOLEAN},
    ("", "Event"): {
        "involvedObject": OBJECT,
        **_fields("involvedObject.", ("kind", "name", "namespace", "uid", "apiVersion",
                                      "fieldPath", "resourceVersion"), STRING),
        **_fields("", ("reason", "message", "type", "action", "reportingComponent",
                       "reportingInstance"), STRING),
        "source": OBJECT, "source.component": STRING, "source.host": STRING,
        "count": "int32",
        **_fields("", ("firstTimestamp", "lastTimestamp", "eventTime"), TIME)},
    ("apps", "Deployment"): {**SPEC_STATUS, **_WORKLOAD, **_strategy("spec.strategy")},
    ("apps", "ReplicaSet"): {**SPEC_STATUS, **_WORKLOAD},
    ("apps", "DaemonSet"): {
        **SPEC_STATUS, **_WORKLOAD, **_strategy("spec.updateStrategy"),
        **_fields("status.", ("desiredNumberScheduled", "currentNumberScheduled",
                              "numberReady", "updatedNumberScheduled", "numberAvailable",
                              "numberMisscheduled", "numberUnavailable"), "int32")},
    ("batch", "Job"): {
        **SPEC_STATUS, **_template("spec.template"), **_label_selector("spec.selector"),
        **_fields("spec.", ("completions", "parallelism", "backoffLimit",
                            "ttlSecondsAfterFinished", "backoffLimitPerIndex"), "int32"),
        "spec.activeDeadlineSeconds": INTEGER,
        **_fields("spec.", ("suspend", "manualSelector"), BOOLEAN),
        "spec.completionMode": STRING,
        **_fields("status.", ("succeeded", "failed", "active", "ready", "terminating"),
                  "int32"),
        **_fields("status.", ("startTime", "completionTime"), TIME),
        **_conditions("status.conditions")},
    ("autoscaling", "HorizontalPodAutoscaler"): {
        **SPEC_STATUS, "spec.scaleTargetRef": OBJECT,
        **_fields("spec.scaleTargetRef.", ("kind", "name", "apiVersion"), STRING),
        **_fields("spec.", ("minReplicas", "maxReplicas"), "int32"),
        "spec.metrics": _OBJECT_LIST, "spec.metrics[].type": STRING,
        "spec.metrics[].resource": OBJECT, "spec.metrics[].resource.name": STRING,
        "spec.metrics[].resource.target": OBJECT,
        "spec.metrics[].resource.target.type": STRING,
        "spec.metrics[].resource.target.averageUtilization": "int32",
        "spec.metrics[].resource.target.averageValue": INT_OR_STRING,
        "spec.metrics[].resource.target.value": INT_OR_STRING,
        **_fields("status.", ("currentReplicas", "desiredReplicas"), "int32"),
        "status.lastScaleTime": TIME, **_conditions("status.conditions")},
    ("networking.k8s.io", "Ingress"): {
        **SPEC_STATUS, "spec.ingressClassName": STRING, "spec.defaultBackend": OBJECT,
        "spec.rules": _OBJECT_LIST, "spec.rules[].host": STRING, "spec.rules[].http": OBJECT,
        "spec.tls": _OBJECT_LIST, "spec.tls[].hosts": STRINGS, "spec.tls[].secretName": STRING,
        **_load_balancer("status.loadBalancer")},
    ("discovery.k8s.io", "EndpointSlice"): {
        "addressType": STRING, "endpoints": _OBJECT_LIST, "endpoints[].addresses": STRINGS,
        "endpoints[].conditions": OBJECT,
        **_fields("endpoints[].conditions.", ("ready", "serving", "terminating"), BOOLEAN),
        **_fields("endpoints[].", ("nodeName", "hostname", "zone"), STRING),
        "endpoints[].targetRef": OBJECT,
        "ports": _OBJECT_LIST, "ports[].port": "int32",
        **_fields("ports[].", ("name", "protocol", "appProtocol"), STRING)},
}


# -- compiled form and the check -----------------------------------------------------

@dataclasses.dataclass
class _Node:
    """The declared type of one field and the fields below it (``items`` for array items)."""

    kind: str = ""
    fields: dict[str, _Node] = dataclasses.field(default_factory=dict)
    items: _Node | None = None


def compile_shape(table: Mapping[str, str]) -> _Node:
    """A tree of ``table`` (``spec.ports[].port`` -> type) for :func:`check`."""
    root = _Node(OBJECT)
    for path, kind in table.items():
        node = root
        parts = path.split(".")
        for depth, part in enumerate(parts):
            name, arrays = part, 0
            while name.endswith("[]"):
                name, arrays = name[:-2], arrays + 1
            if name:
                node = node.fields.setdefault(name, _Node())
            for _ in range(arrays):
                node.kind = node.kind or ARRAY
                if node.items is None:
                    node.items = _Node(OBJECT)
                node = node.items
            if depth < len(parts) - 1:
                node.kind = node.kind or OBJECT  # a parent of other fields
        if kind == _OBJECT_LIST:
            node.kind = ARRAY
            if node.items is None:
                node.items = _Node(OBJECT)
        else:
            node.kind = kind
    return root


_COMPILED: dict[tuple[str, str], _Node] = {}


def shape_of(group: str, kind: str) -> _Node:
    """The compiled shape of a kind: METADATA plus its SHAPES entry (SPEC_STATUS when
    the kind is not listed)."""
    key = (group, kind)
    node = _COMPILED.get(key)
    if node is None:
        node = _COMPILED[key] = compile_shape({**METADATA, **SHAPES.get(key, SPEC_STATUS)})
    return node


def check(group: str, kind: str, obj: Obj) -> list[Problem]:
    """The wrongly typed fields of ``obj`` (at most MAX_PROBLEMS); ``null`` values of
    listed fields are removed from ``obj`` on the way, as Go's decoder ignores them."""
    problems: list[Problem] = []
    _walk(shape_of(group, kind), obj, "", problems)
    return problems


def check_node(node: _Node, value: dict[str, Any], problems: list[Problem]) -> None:
    """Add to ``problems`` the wrongly typed fields of ``value`` for a compiled shape."""
    _walk(node, value, "", problems)


def _walk(node: _Node, value: dict[str, Any], path: str, problems: list[Problem]) -> None:
    for name, child in node.fields.items():
        if name not in value:
            continue
        item = value[name]
        where = f"{path}.{name}" if path else name
        if item is None:
            del value[name]  # null is absent, as Go's decoder reads it
            continue
        if not _matches(child, item, where, problems):
            continue
        if child.kind == OBJECT and child.fields:
            _walk(child, item, where, problems)
        elif child.kind == ARRAY and child.items is not None:
            for i, element in enumerate(item):
                at = f"{where}[{i}]"
                if element is None and child.items.kind == OBJECT:
                    item[i] = element = {}
                if _matches(child.items, element, at, problems) and child.items.fields:
                    _walk(child.items, element, at, problems)
                if len(problems) >= MAX_PROBLEMS:
                    return
        if len(problems) >= MAX_PROBLEMS:
            return


def _matches(node: _Node, value: Any, where: str, problems: list[Problem]) -> bool:
    """Whether ``value`` has ``node``'s type; a Problem when it has not."""
    kind = node.kind
    expected = kind
    if kind == OBJECT:
        ok = isinstance(value, dict)
    elif kind == ARRAY:
        ok = isinstance(value, list)
    elif kind == STRING:
        ok = isinstance(value, str)
    elif kind == BOOLEAN:
        ok = isinstance(value, bool)
    elif kind in (INTEGER, "int32"):
        low, high = INT32 if kind == "int32" else INT64
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        expected = INTEGER if ok or not isinstance(value, int) or isinstance(value, bool) \
            else f"{INTEGER} in {low}..{high}"
    elif kind == INT_OR_STRING:
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        expected = "integer or string"
    elif kind == TIME:
        ok = isinstance(value, str) and _is_time(value)
        expected = "RFC 3339 time"
        if not ok and isinstance(value, str):
            problems.append(Problem(where, expected, value[:64]))
            return False
    elif kind == STRING_MAP:
        return _string_map(value, where, problems)
    elif kind == STRINGS:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        expected = "array of strings"
        if isinstance(value, list) and not ok:
            for i, element in enumerate(value):
                if not isinstance(element, str):
                    problems.append(Problem(f"{where}[{i}]", STRING, json_type(element)))
                    return False
    else:  # a field declared only as a parent of others
        ok = True
    if not ok:
        problems.append(Problem(where, expected, json_type(value)))
    return ok


def _is_time(text: str) -> bool:
    if not _TIME.match(text):
        return False
    try:
        datetime.datetime.fromisoformat(text)  # the ranges: month 13 is not a time
    except ValueError:
        return False
    return True


def _string_map(value: Any, where: str, problems: list[Problem]) -> bool:
    if not isinstance(value, dict):
        problems.append(Problem(where, "object of strings", json_type(value)))
        return False
    for key, item in value.items():
        if item is None:
            value[key] = ""  # Go decodes null into a string as the empty string
        elif not isinstance(item, str):
            problems.append(Problem(f"{where}.{key}", STRING, json_type(item)))
            return False
    return True


def error(kind: Kind, obj: Obj, problems: list[Problem]) -> status.ApiError:
    """The answer to a wrongly typed object: for a built-in kind kube-apiserver's 400
    (its decoder refuses the body), for any other kind a CRD's 422 Invalid; both name
    every field in ``details.causes``."""
    meta = obj.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    causes = [(p.field, (f"Invalid value: {json.dumps(p.found)}: {p.field} in body must be "
                         f"of type {p.expected}: {json.dumps(p.found)}")) for p in problems]
    if not kind.strategic:
        return status.invalid(kind.kind, kind.group, name, causes)
    message = (f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
               + "; ".join(p.message() for p in problems))
    details: dict[str, Any] = {"kind": kind.plural}
    if name:
        details["name"] = name
    if kind.group:
        details["group"] = kind.group
    details["causes"] = [{"reason": "FieldValueTypeInvalid", "message": message_,
                          "field": field} for field, message_ in causes]
    return status.ApiError(400, "BadRequest", message, details)
