"""Real kubectl 1.37 against ``fedns sim`` for the API surface of a real cluster: scale
and autoscale, explain, typed-client (protobuf) creates, auth can-i and whoami,
fieldValidation, Secret stringData, CRDs, Pod logs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.sim.test_kubectl import Sim, kubectl, table

DEPLOYMENT_WITH_TYPO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo}
spec:
  replicas: 1
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers: [{name: c, image: nginx}]
  bogus: 1
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, description: How big the widget is.}
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    running = Sim(str(tmp_path_factory.mktemp("sim")), "alpha")
    try:
        running.wait_kubeconfig()
        yield running
    finally:
        running.stop()


def test_create_deployment_then_scale_and_autoscale(sim):
    # kubectl create uses the typed client: a protobuf body
    kubectl(sim, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    kubectl(sim, "scale", "deployment", "web", "--replicas=4")
    replicas = kubectl(sim, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "4"
    kubectl(sim, "autoscale", "deployment", "web", "--min=1", "--max=5", "--cpu=50%")
    hpa = json.loads(kubectl(sim, "get", "hpa", "web", "-o", "json").stdout)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "web"}
    assert hpa["spec"]["maxReplicas"] == 5


@pytest.mark.parametrize(("args", "kind", "name"), [
    pytest.param(("job", "j1", "--image=busybox"), "job", "j1", id="job"),
    pytest.param(("serviceaccount", "robot"), "serviceaccount", "robot", id="sa"),
    pytest.param(("role", "reader", "--verb=get", "--resource=pods"), "role", "reader",
                 id="role"),
    pytest.param(("rolebinding", "rb", "--role=reader", "--user=bob"), "rolebinding", "rb",
                 id="rolebinding"),
    pytest.param(("clusterrole", "nodes", "--verb=get", "--resource=nodes"), "clusterrole",
                 "nodes", id="clusterrole"),
    pytest.param(("clusterrolebinding", "crb", "--clusterrole=nodes", "--group=ops"),
                 "clusterrolebinding", "crb", id="clusterrolebinding"),
    pytest.param(("poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=1"),
                 "pdb", "pdb", id="pdb"),
    pytest.param(("ingress", "ing", "--rule=foo.com/bar=svc:8080"), "ingress", "ing",
                 id="ingress"),
    pytest.param(("service", "clusterip", "svc", "--tcp=8080:8080"), "service", "svc",
                 id="service"),
])
def test_typed_creates(sim, args, kind, name):
    kubectl(sim, "create", *args)
    got = json.loads(kubectl(sim, "get", kind, name, "-o", "json").stdout)
    assert got["metadata"]["name"] == name


def test_explain_shows_the_real_field(sim):
    out = kubectl(sim, "explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in out
    assert "Number of desired pods" in out


def test_auth_can_i_and_whoami(sim):
    assert kubectl(sim, "auth", "can-i", "create", "pods").stdout.strip() == "yes"
    assert "kubernetes-admin" in kubectl(sim, "auth", "whoami").stdout


def test_unknown_field_fails_strict_and_warns_on_warn(sim):
    strict = kubectl(sim, "apply", "-f", "-", stdin=DEPLOYMENT_WITH_TYPO, check=False)
    assert strict.returncode != 0
    assert 'strict decoding error: unknown field "spec.bogus"' in strict.stderr
    warned = kubectl(sim, "apply", "--validate=warn", "-f", "-", stdin=DEPLOYMENT_WITH_TYPO)
    assert 'Warning: unknown field "spec.bogus"' in warned.stderr
    stored = json.loads(kubectl(sim, "get", "deployment", "typo", "-o", "json").stdout)
    assert "bogus" not in stored["spec"]


def test_secret_string_data_merges(sim):
    kubectl(sim, "apply", "-f", "-", stdin="apiVersion: v1\nkind: Secret\n"
            "metadata: {name: creds}\nstringData: {user: admin}\ndata: {pw: eA==}\n")
    secret = json.loads(kubectl(sim, "get", "secret", "creds", "-o", "json").stdout)
    assert "stringData" not in secret
    assert base64.b64decode(secret["data"]["user"]) == b"admin"
    assert secret["data"]["pw"] == "eA=="


def test_crd_then_custom_resource(sim):
    kubectl(sim, "apply", "-f", "-", stdin=CRD)
    kubectl(sim, "wait", "--for=condition=established", "crd/widgets.example.com",
            "--timeout=20s")
    kubectl(sim, "apply", "-f", "-", stdin=WIDGET)
    header, rows = table(kubectl(sim, "get", "wd").stdout)
    assert header == ["NAME", "SIZE"]
    assert rows == [["w1", "3"]]
    assert "How big the widget is." in kubectl(sim, "explain", "widget.spec.size").stdout


def test_logs_explain_why_there_are_none(sim):
    kubectl(sim, "apply", "-f", "-", stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
            "spec: {containers: [{name: c, image: busybox}]}\n")
    result = kubectl(sim, "logs", "p", check=False)
    assert result.returncode != 0
    assert "runs no containers" in result.stderr
