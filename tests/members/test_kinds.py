"""Resources: REST paths, api versions, the well-known table, and that kinds stays pure."""

from __future__ import annotations

import pytest

from fedns.kapi import builtin
from fedns.members import kinds
from tests import test_layout

NS_CM = kinds.CONFIG_MAP


@pytest.mark.parametrize("resource,namespace,expected", [
    pytest.param(kinds.SERVICE, "", "/api/v1/services", id="core-all-namespaces"),
    pytest.param(NS_CM, "web", "/api/v1/namespaces/web/configmaps", id="core-one-namespace"),
    pytest.param(kinds.DEPLOYMENT, "", "/apis/apps/v1/deployments", id="group-all"),
    pytest.param(kinds.DEPLOYMENT, "a", "/apis/apps/v1/namespaces/a/deployments", id="group-one"),
    pytest.param(kinds.NODE, "", "/api/v1/nodes", id="cluster-scoped"),
    pytest.param(kinds.ENDPOINT_SLICE, "", "/apis/discovery.k8s.io/v1/endpointslices",
                 id="dotted-group"),
])
def test_collection_paths(resource, namespace, expected):
    assert resource.path(namespace) == expected


@pytest.mark.parametrize("resource,namespace,name,expected", [
    pytest.param(NS_CM, "web", "conf", "/api/v1/namespaces/web/configmaps/conf", id="namespaced"),
    pytest.param(kinds.NAMESPACE, "", "team-a", "/api/v1/namespaces/team-a", id="cluster-scoped"),
    pytest.param(kinds.JOB, "x", "a/b c", "/apis/batch/v1/namespaces/x/jobs/a%2Fb%20c",
                 id="odd-name-stays-one-segment"),
])
def test_object_paths(resource, namespace, name, expected):
    assert resource.object_path(namespace, name) == expected


@pytest.mark.parametrize("call,message", [
    pytest.param(lambda: kinds.NODE.path("default"), "Node is not namespaced", id="ns-for-node"),
    pytest.param(lambda: NS_CM.object_path("", "conf"), "a namespace is required",
                 id="namespaced-without-namespace"),
    pytest.param(lambda: NS_CM.object_path("web", ""), "needs a name", id="no-name"),
])
def test_wrong_paths_are_one_line_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_api_version_and_lookup():
    assert kinds.SERVICE.api_version == "v1"
    assert kinds.HORIZONTAL_POD_AUTOSCALER.api_version == "autoscaling/v2"
    assert kinds.for_kind("apps/v1", "Deployment") is kinds.DEPLOYMENT
    assert kinds.for_kind("apps/v1beta1", "Deployment") is None
    assert kinds.for_kind("example.com/v1", "Widget") is None
    assert kinds.split_api_version("apps/v1") == ("apps", "v1")
    assert kinds.split_api_version("v1") == ("", "v1")
    assert NS_CM.describe("web", "conf") == "ConfigMap web/conf"
    assert kinds.NAMESPACE.describe("", "team-a") == "Namespace team-a"


def test_well_known_kinds_agree_with_the_simulated_api_server():
    """Every kind both know has the same group, version, plural and scope."""
    reg = builtin.registry()
    compared = 0
    for resource in kinds.WELL_KNOWN:
        kind = reg.lookup(resource.group, resource.version, resource.plural)
        if kind is None:
            continue  # not served by the sim (StatefulSet, CronJob, ...)
        compared += 1
        assert (kind.kind, kind.namespaced) == (resource.kind, resource.namespaced)
    assert compared >= 10


def test_kinds_imports_no_io_library():
    test_layout.test_pure_code_imports_no_io_library("fedns.members.kinds")
