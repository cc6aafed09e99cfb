"""Table rows: the cells kubectl prints for built-in kinds, and custom columns."""

from __future__ import annotations

import datetime

import pytest

from fedns.kapi import printers, tables

NOW = datetime.datetime(2026, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)
CREATED = "2026-01-10T11:55:00Z"  # 5m before NOW


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(-5, "<invalid>", id="future"),
    pytest.param(-1, "0s", id="clock-skew"),
    pytest.param(0, "0s", id="zero"),
    pytest.param(119, "119s", id="under-2m"),
    pytest.param(125, "2m5s", id="minutes-seconds"),
    pytest.param(300, "5m", id="whole-minutes"),
    pytest.param(45 * 60, "45m", id="minutes"),
    pytest.param(3 * 3600 + 600, "3h10m", id="hours-minutes"),
    pytest.param(10 * 3600, "10h", id="hours"),
    pytest.param(50 * 3600, "2d2h", id="days-hours"),
    pytest.param(30 * 86400, "30d", id="days"),
    pytest.param(3 * 365 * 86400 + 5 * 86400, "3y5d", id="years-days"),
    pytest.param(9 * 365 * 86400, "9y", id="years"),
])
def test_human_duration(seconds, text):
    assert tables.human_duration(seconds) == text


def _svc(kind, **spec):
    return {"metadata": {"name": "web", "creationTimestamp": CREATED},
            "spec": {"type": kind, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     **spec}}


SERVICE_CASES = [
    pytest.param(_svc("ClusterIP", ports=[{"port": 80, "protocol": "TCP"}]),
                 ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "5m", "<none>"],
                 id="cluster-ip"),
    pytest.param(_svc("LoadBalancer", ports=[{"port": 80, "protocol": "TCP", "nodePort": 31000},
                                             {"port": 53, "protocol": "UDP"}],
                      selector={"app": "web"}),
                 ["web", "LoadBalancer", "10.96.0.10", "<pending>", "80:31000/TCP,53/UDP", "5m",
                  "app=web"], id="lb-pending"),
    pytest.param({**_svc("LoadBalancer", ports=[{"port": 80, "protocol": "TCP"}]),
                  "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.20"},
                                                          {"ip": "192.0.2.10"}]}}},
                 ["web", "LoadBalancer", "10.96.0.10", "192.0.2.10,192.0.2.20", "80/TCP", "5m",
                  "<none>"], id="lb-ingress-sorted"),
    pytest.param(_svc("ClusterIP", externalIPs=["198.51.100.1"], ports=[]),
                 ["web", "ClusterIP", "10.96.0.10", "198.51.100.1", "<none>", "5m", "<none>"],
                 id="external-ips-no-ports"),
    pytest.param({"metadata": {"name": "web", "creationTimestamp": CREATED},
                  "spec": {"type": "ExternalName", "externalName": "example.org"}},
                 ["web", "ExternalName", "<none>", "example.org", "<none>", "5m", "<none>"],
                 id="external-name"),
]


@pytest.mark.parametrize(("obj", "cells"), SERVICE_CASES)
def test_service_row(obj, cells):
    assert printers.SERVICE.row(obj, NOW) == cells
    assert [c.name for c in printers.SERVICE.columns if c.priority == 0] == [
        "Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]


NODE = {"metadata": {"name": "n1", "creationTimestamp": CREATED,
                     "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "nodeInfo": {"kubeletVersion": "v1.37.0"},
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}


@pytest.mark.parametrize(("printer", "obj", "cells"), [
    pytest.param(printers.NODE, NODE,
                 ["n1", "Ready", "control-plane", "5m", "v1.37.0", "10.0.0.1", "<none>",
                  "<unknown>", "<unknown>", "<unknown>"], id="node-ready"),
    pytest.param(printers.NODE, {"metadata": {"name": "n2"}, "spec": {"unschedulable": True}},
                 ["n2", "Unknown,SchedulingDisabled", "<none>", "<unknown>", "", "<none>",
                  "<none>", "<unknown>", "<unknown>", "<unknown>"], id="node-no-status"),
    pytest.param(printers.NAMESPACE, {"metadata": {"name": "default",
                                                   "creationTimestamp": CREATED},
                                      "status": {"phase": "Active"}},
                 ["default", "Active", "5m"], id="namespace"),
    pytest.param(printers.DEPLOYMENT,
                 {"metadata": {"name": "d", "creationTimestamp": CREATED},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"}},
                           "template": {"spec": {"containers": [{"name": "c",
                                                                 "image": "nginx"}]}}},
                  "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
                 ["d", "2/3", 3, 2, "5m", "c", "nginx", "app=d"], id="deployment"),
    pytest.param(printers.ENDPOINTSLICE,
                 {"metadata": {"name": "s", "creationTimestamp": CREATED}, "addressType": "IPv4",
                  "ports": [{"port": 80}, {"name": "x"}],
                  "endpoints": [{"addresses": ["10.0.0.1", "10.0.0.2"]},
                                {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]},
                 ["s", "IPv4", "80,x", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "5m"],
                 id="endpointslice"),
    pytest.param(printers.ENDPOINTSLICE,
                 {"metadata": {"name": "s"}, "addressType": "IPv4"},
                 ["s", "IPv4", "<unset>", "<unset>", "<unknown>"], id="endpointslice-empty"),
    pytest.param(printers.ENDPOINTS,
                 {"metadata": {"name": "e", "creationTimestamp": CREATED},
                  "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]},
                 ["e", "10.0.0.1:80", "5m"], id="endpoints"),
    pytest.param(printers.CONFIGMAP, {"metadata": {"name": "c", "creationTimestamp": CREATED},
                                      "data": {"a": "1", "b": "2"}}, ["c", 2, "5m"],
                 id="configmap"),
    pytest.param(printers.SECRET, {"metadata": {"name": "s", "creationTimestamp": CREATED},
                                   "type": "Opaque", "data": {"a": "MQ=="}},
                 ["s", "Opaque", 1, "5m"], id="secret"),
    pytest.param(tables.DEFAULT, {"metadata": {"name": "x", "creationTimestamp": CREATED}},
                 ["x", "5m"], id="default-name-age"),
])
def test_rows(printer, obj, cells):
    assert printer.row(obj, NOW) == cells
    assert len(printer.columns) == len(cells)


def test_custom_columns_like_printer_columns():
    printer = tables.columns(("Site", ".spec.site"), ("Addresses", ".spec.addresses"),
                             ("Free", ".status.free", "integer", 1))
    assert [c.name for c in printer.columns] == ["Name", "Site", "Addresses", "Free", "Age"]
    assert printer.columns[3].priority == 1
    obj = {"metadata": {"name": "p", "creationTimestamp": CREATED},
           "spec": {"site": "umich", "addresses": ["192.0.2.0/24", "198.51.100.0/24"]},
           "status": {"free": 10}}
    assert printer.row(obj, NOW) == ["p", "umich", "192.0.2.0/24,198.51.100.0/24", 10, "5m"]


def test_table_rows_carry_partial_object_metadata():
    table = tables.to_table(printers.NAMESPACE,
                            [{"metadata": {"name": "a", "resourceVersion": "7"}}], now=NOW,
                            resource_version="9")
    assert table["metadata"] == {"resourceVersion": "9"}
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["rows"][0]["object"] == {"kind": "PartialObjectMetadata",
                                          "apiVersion": "meta.k8s.io/v1",
                                          "metadata": {"name": "a", "resourceVersion": "7"}}
    bare = tables.to_table(printers.NAMESPACE, [{"metadata": {"name": "a"}}], now=NOW,
                           include_object="None", headers=False)
    assert "columnDefinitions" not in bare and "object" not in bare["rows"][0]
