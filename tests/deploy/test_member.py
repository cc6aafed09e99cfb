"""deploy/member: the least RBAC fedns needs, the opt-in write role of propagation
(deploy/member/propagation), and ``fedns member kubeconfig`` for its token.

The kubeconfig is checked for real: against ``fedns sim`` serving HTTPS with a token,
``kubectl`` with the printed kubeconfig lists Services (trusting the CA given, sending
the token given), and the same kubeconfig with another token is refused.
"""

from __future__ import annotations

import base64
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from fedns import templates
from fedns.cli import member as member_command
from fedns.members import member
from tests.corefile.helpers import fedns
from tests.deploy import manifests
from tests.support import procs

# (apiGroup, resource) -> verbs: exactly what fedns.members does, nothing more.
LEAST = {
    ("", "services"): {"get", "list", "watch"},
    ("", "nodes"): {"get", "list", "watch"},
    ("", "namespaces"): {"get", "list", "watch"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},
    ("", "services/status"): {"update", "patch"},
    ("", "events"): {"create", "patch"},
}


def grants(role: manifests.Obj) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no resourceNames, no URLs
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def test_cluster_role_grants_exactly_the_least():
    objects = manifests.render("member")
    role = manifests.one(objects, "ClusterRole", "fedns-member")
    assert grants(role) == LEAST
    assert "*" not in str(role["rules"])


def test_the_role_covers_the_kinds_fedns_watches():
    watched = {"Service": ("", "services"), "EndpointSlice": ("discovery.k8s.io",
                                                              "endpointslices"),
               "Node": ("", "nodes"), "Namespace": ("", "namespaces")}
    assert set(member.KINDS) == set(watched)
    for kind in member.KINDS:
        assert {"list", "watch"} <= LEAST[watched[kind]]


def test_the_opt_in_role_writes_exactly_the_propagated_kinds():
    """What fedns.controller.propagation does in a member: follow (get, list, watch),
    server-side apply (patch; create for a new object), delete."""
    objects = manifests.render("member/propagation")
    assert sorted(o["kind"] for o in objects) == ["ClusterRole", "ClusterRoleBinding"]
    role = manifests.one(objects, "ClusterRole", "fedns-member-propagation")
    propagated = {(r.group, r.plural) for r in
                  templates.propagated(templates.kinds()).values()}
    assert grants(role) == dict.fromkeys(
        propagated, {"get", "list", "watch", "create", "patch", "delete"})
    assert "*" not in str(role["rules"])
    binding = manifests.one(objects, "ClusterRoleBinding", "fedns-member-propagation")
    account = manifests.one(manifests.render("member"), "ServiceAccount", "fedns-member")
    assert binding["roleRef"]["name"] == "fedns-member-propagation"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fedns-member",
                                    "namespace": account["metadata"]["namespace"]}]
    assert binding["metadata"]["labels"] == {"app.kubernetes.io/part-of": "fedns"}


def test_binding_token_secret_and_service_account_fit_together():
    objects = manifests.render("member")
    account = manifests.one(objects, "ServiceAccount", "fedns-member")
    namespace = account["metadata"]["namespace"]
    assert manifests.one(objects, "Namespace", namespace)
    binding = manifests.one(objects, "ClusterRoleBinding", "fedns-member")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "fedns-member"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fedns-member",
                                    "namespace": namespace}]
    secret = manifests.one(objects, "Secret", "fedns-member-token")
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["namespace"] == namespace
    assert secret["metadata"]["annotations"] == {
        "kubernetes.io/service-account.name": "fedns-member"}
    assert account["automountServiceAccountToken"] is False


# -- fedns member kubeconfig ------------------------------------------------------------

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def token_secret(ca: bytes, token: str) -> str:
    """A filled service-account-token Secret, as ``kubectl get secret -o yaml`` prints it."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "fedns-member-token", "namespace": "fedns"},
        "data": {"ca.crt": base64.b64encode(ca).decode(), "namespace": "ZmVkbnM=",
                 "token": base64.b64encode(token.encode()).decode()}})


def test_kubeconfig_from_files(tmp_path):
    (tmp_path / "ca.crt").write_bytes(CA)
    (tmp_path / "token").write_text("abc.def.ghi\n")
    result = fedns(["member", "kubeconfig", "--server", "https://k.example.org:6443/",
                    "--ca-file", str(tmp_path / "ca.crt"), "--token-file",
                    str(tmp_path / "token"), "--name", "umich"])
    assert (result.code, result.err) == (0, "")
    assert yaml.safe_load(result.out) == {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "umich", "cluster": {
            "server": "https://k.example.org:6443",
            "certificate-authority-data": base64.b64encode(CA).decode()}}],
        "users": [{"name": "fedns@umich", "user": {"token": "abc.def.ghi"}}],
        "contexts": [{"name": "umich", "context": {"cluster": "umich", "user": "fedns@umich"}}],
        "current-context": "umich",
    }


def test_kubeconfig_from_the_secret_on_stdin_equals_from_files(tmp_path):
    (tmp_path / "ca.crt").write_bytes(CA)
    (tmp_path / "token").write_text("abc.def.ghi")
    files = fedns(["member", "kubeconfig", "--server", "https://k:6443", "--ca-file",
                   str(tmp_path / "ca.crt"), "--token-file", str(tmp_path / "token")])
    secret = fedns(["member", "kubeconfig", "--server", "https://k:6443", "--from-secret", "-"],
                   stdin=token_secret(CA, "abc.def.ghi"))
    assert secret.code == 0 and secret.out == files.out


@pytest.mark.parametrize("argv, stdin, message", [
    (["--server", "http://k:6443", "--from-secret", "-"], token_secret(CA, "t"),
     "--server 'http://k:6443' must be an https:// URL (a token is not sent over plain HTTP)"),
    (["--server", "https://k", "--name", "Bad_Name", "--from-secret", "-"],
     token_secret(CA, "t"), "--name 'Bad_Name' is not a DNS label"),
    (["--server", "https://k", "--from-secret", "-"], token_secret(b"not a cert", "t"),
     "the CA is not a PEM certificate"),
    (["--server", "https://k", "--from-secret", "-"], token_secret(CA, "two words"),
     "the token is empty or has spaces in it"),
    (["--server", "https://k", "--from-secret", "-"],
     "kind: Secret\ndata: {ca.crt: " + base64.b64encode(CA).decode() + "}\n",
     ("--from-secret: the Secret has no token yet (is it a service-account-token Secret the "
     "cluster has filled?)")),
    (["--server", "https://k", "--from-secret", "-"], "kind: ConfigMap\n",
     "--from-secret: not a Secret"),
    (["--server", "https://k", "--from-secret", "-"], ("kind: Secret\ndata: {ca.crt: '%%', "
     "token: '%%'}\n"), "--from-secret: ca.crt or token is not base64"),
    (["--server", "https://k", "--from-secret", "-"], "kind: [\n",
     "--from-secret: not YAML or JSON: while parsing a flow node"),
    (["--server", "https://k"], "", "give --ca-file and --token-file, or --from-secret"),
    (["--server", "https://k", "--from-secret", "-", "--ca-file", "x"], "",
     "--from-secret replaces --ca-file and --token-file"),
    (["--server", "https://k", "--ca-file", "/nonexistent", "--token-file", "/nonexistent"],
     "", "/nonexistent: cannot read: No such file or directory"),
], ids=["http", "bad-name", "bad-ca", "spaced-token", "unfilled-secret", "not-a-secret",
        "not-base64", "not-yaml", "nothing", "both", "missing-file"])
def test_kubeconfig_refusals_exit_2(argv, stdin, message):
    result = fedns(["member", "kubeconfig", *argv], stdin=stdin)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"fedns: {message}\n"


def test_kubeconfig_api_is_the_same_as_the_command():
    config = member_command.kubeconfig("https://k", "m", CA, " t \n")
    assert config["users"] == [{"name": "fedns@m", "user": {"token": "t"}}]


# -- against a real HTTPS API server with a token ---------------------------------------

SIM_TOKEN = "sim-member-token"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``fedns sim`` with one member behind HTTPS and a token; its own kubeconfig."""
    tmp = tmp_path_factory.mktemp("sim")
    kubeconfig = tmp / "sim.kubeconfig"
    with open(tmp / "sim.out", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fedns.cli", "sim", "--members", "site-a", "--kubeconfig",
             str(kubeconfig), "--token", SIM_TOKEN, "--nodes", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=manifests.ROOT)
        try:
            def written() -> bool:
                if proc.poll() is not None:
                    pytest.fail(f"fedns sim exited: {(tmp / 'sim.out').read_text()}")
                return kubeconfig.exists()

            procs.wait_for(written, 30, "sim kubeconfig")
            document = yaml.safe_load(kubeconfig.read_text())
            yield {"tmp": tmp, "cluster": document["clusters"][0]["cluster"]}
        finally:
            procs.stop_process(proc, signal.SIGTERM)


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECACHEDIR": os.path.join(os.path.dirname(kubeconfig), "cache")}
    return subprocess.run([manifests.kubectl(), "--kubeconfig", kubeconfig, *args],
                          capture_output=True, text=True, timeout=30, env=env, check=False)


@pytest.mark.parametrize("source", ["files", "secret"])
def test_printed_kubeconfig_works_with_kubectl(sim, source):
    tmp, cluster = sim["tmp"], sim["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"])
    assert cluster["server"].startswith("https://")
    if source == "files":
        (tmp / "ca.crt").write_bytes(ca)
        (tmp / "token").write_text(SIM_TOKEN + "\n")
        extra = ["--ca-file", str(tmp / "ca.crt"), "--token-file", str(tmp / "token")]
        stdin = ""
    else:
        extra, stdin = ["--from-secret", "-"], token_secret(ca, SIM_TOKEN)
    result = fedns(["member", "kubeconfig", "--server", cluster["server"], "--name", "site-a",
                    *extra], stdin=stdin)
    assert result.code == 0, result.err
    path = tmp / f"{source}.kubeconfig"
    path.write_text(result.out)
    listed = kubectl(str(path), "get", "services", "--all-namespaces", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert "service/kubernetes" in listed.stdout.split()
    assert kubectl(str(path), "config", "current-context").stdout.strip() == "site-a"

    wrong = tmp / f"{source}-wrong.kubeconfig"
    wrong.write_text(result.out.replace(SIM_TOKEN, "not-the-token"))
    refused = kubectl(str(wrong), "get", "services", "--all-namespaces")
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr or "401" in refused.stderr


# -- deploy/README.md: the Secret and kubeconfig commands it tells the admin to run ------

README = (manifests.DEPLOY / "README.md").read_text()


def readme_commands() -> list[str]:
    return [line[2:] for line in README.splitlines() if line.startswith("% ")]


def test_readme_secret_commands_create_what_the_pods_mount(tmp_path):
    from fedns import config

    settings = config.load(str(manifests.DEPLOY / "base" / "config.yaml"))
    created = {}
    for command in readme_commands():
        if " create secret generic " not in command or "fedns-api-tls" in command:
            continue  # the api-tls component's Secret: tests/deploy/test_api_tls.py
        argv = shlex.split(command.replace('"$(openssl rand -hex 32)"', "0123abcd"))
        for arg in argv:
            if arg.startswith("--from-file="):
                (tmp_path / arg.split("=", 1)[1]).write_text("apiVersion: v1\nkind: Config\n")
        done = subprocess.run([manifests.kubectl(), *argv[1:], "--dry-run=client", "-o", "yaml"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=30,
                              check=False)
        assert done.returncode == 0, done.stderr
        secret = yaml.safe_load(done.stdout)
        assert secret["metadata"]["namespace"] == "fedns"
        created[secret["metadata"]["name"]] = set(secret["data"])
    assert created == {
        "fedns-api-token": {"token"},
        "fedns-members": {os.path.basename(m.kubeconfig) for m in settings.members},
    }
    pod = manifests.one(manifests.render("overlays/single-site"), "Deployment",
                        "fedns")["spec"]["template"]
    init = pod["spec"]["initContainers"][0]["args"][0]
    token_mount = next(m["mountPath"] for m in pod["spec"]["initContainers"][0]["volumeMounts"]
                       if m["name"] == "api-token")
    assert f"{token_mount}/token" in init


def test_readme_member_kubeconfig_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (command,) = [c for c in readme_commands() if c.startswith("fedns member kubeconfig")]
    (getter,) = [c for c in readme_commands() if "get secret fedns-member-token" in c]
    secret_file = getter.split(" > ")[1]
    (tmp_path / secret_file).write_text(token_secret(CA, "abc"))
    argv, target = shlex.split(command.split(" > ")[0]), command.split(" > ")[1]
    result = fedns(argv[1:])
    assert result.code == 0, result.err
    name = argv[argv.index("--name") + 1]
    assert target == f"{name}.kubeconfig"
    assert yaml.safe_load(result.out)["current-context"] == name


def test_readme_member_stub_command_runs(monkeypatch):
    monkeypatch.chdir(manifests.ROOT)
    (command,) = [c for c in readme_commands() if "--member" in c]
    result = fedns(shlex.split(command)[1:])
    assert result.code == 0, result.err
    assert "    forward . 192.0.2.53" in result.out.splitlines()
