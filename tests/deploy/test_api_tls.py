"""deploy/components/api-tls: the fedns API over HTTPS with the admin's fedns-api-tls Secret.

The fixture ``tests/deploy/fixtures/api-tls`` is the single-site overlay written out
flat, with the component after the ServiceMonitors as deploy/README.md says.  Its
objects differ from single-site's exactly by: the Secret mounted read-only, the init
container naming its files as ``api.certFile``/``api.keyFile``, HTTPS probes, and a
ServiceMonitor that scrapes over HTTPS and verifies the certificate.  The init script,
run for real with a throwaway certificate, gives a config :func:`fedns.config.load`
accepts (it builds the TLS context); every object validates in strict mode; other
orders and overlays compose as the README says; and the README's commands make a
Secret with the keys all of these name, whose certificate passes the ServiceMonitor's
check in a real TLS handshake.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import os
import pathlib
import shlex
import shutil
import ssl
import subprocess

import pytest
import yaml

from fedns import config
from fedns.sim import tls
from tests.deploy import manifests
from tests.deploy.test_config import config_map, mounts
from tests.deploy.test_wiring import ADMIN_SECRETS

COMPONENT = manifests.DEPLOY / "components" / "api-tls"
FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "api-tls"
SECRET = "fedns-api-tls"
VOLUME = "api-tls"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
README = (manifests.DEPLOY / "README.md").read_text()


@pytest.fixture
def objects() -> list[manifests.Obj]:
    return manifests.render_directory(FIXTURE)


@pytest.fixture
def plain() -> list[manifests.Obj]:
    return manifests.render("overlays/single-site")


def throwaway_overlay(where: pathlib.Path, resources: list[str],
                      components: list[str]) -> list[manifests.Obj]:
    """Render a kustomization naming deploy/ paths (relative, as kustomize requires)."""
    up = os.path.relpath(manifests.DEPLOY, where)
    (where / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": "fedns", "resources": [f"{up}/{r}" for r in resources],
        "components": [f"{up}/{c}" for c in components]}))
    return manifests.render_directory(where)


def fedns_pod(objects: list[manifests.Obj]) -> manifests.Obj:
    return manifests.one(objects, "Deployment", "fedns")["spec"]["template"]


def init_script(objects: list[manifests.Obj]) -> str:
    (init,) = fedns_pod(objects)["spec"]["initContainers"]
    assert init["name"] == "config" and init["command"] == ["python", "-c"]
    (script,) = init["args"]
    return script


def fedns_endpoint(objects: list[manifests.Obj]) -> manifests.Obj:
    (endpoint,) = manifests.one(objects, "ServiceMonitor", "fedns")["spec"]["endpoints"]
    return endpoint


def is_https(objects: list[manifests.Obj]) -> bool:
    container = fedns_pod(objects)["spec"]["containers"][0]
    schemes = {container[p]["httpGet"].get("scheme", "HTTP") for p in PROBES}
    assert len(schemes) == 1, schemes
    return schemes == {"HTTPS"}


def readme_commands() -> list[str]:
    return [line[2:] for line in README.splitlines() if line.startswith("% ")]


# -- the component and what it changes --------------------------------------------------

def test_component_is_a_component():
    doc = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert doc["kind"] == "Component"


def test_the_component_changes_only_what_it_says(objects, plain):
    def by_id(objs: list[manifests.Obj]) -> dict[tuple[str, str], manifests.Obj]:
        return {(o["kind"], o["metadata"]["name"]): o for o in objs}

    changed, before = by_id(objects), by_id(plain)
    assert set(changed) == set(before)  # nothing new: in particular no Secret
    deployment, monitor = ("Deployment", "fedns"), ("ServiceMonitor", "fedns")
    for key in set(before) - {deployment, monitor}:
        assert changed[key] == before[key], key

    # Undo the component's changes to the Deployment: what is left is single-site's.
    undone = copy.deepcopy(changed[deployment])
    spec = undone["spec"]["template"]["spec"]
    for probe in PROBES:
        assert spec["containers"][0][probe]["httpGet"].pop("scheme") == "HTTPS"
    spec["containers"][0]["volumeMounts"] = [
        m for m in spec["containers"][0]["volumeMounts"] if m["name"] != VOLUME]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != VOLUME]
    spec["initContainers"][0]["args"] = [init_script(plain)]
    assert undone == before[deployment]

    undone = copy.deepcopy(changed[monitor])
    endpoint = undone["spec"]["endpoints"][0]
    assert (endpoint.pop("scheme"), "tlsConfig" in endpoint) == ("https", True)
    del endpoint["tlsConfig"]
    del before[monitor]["spec"]["endpoints"][0]["scheme"]
    assert undone == before[monitor]


def test_the_secret_is_mounted_read_only_in_the_fedns_container_only(objects):
    pod = fedns_pod(objects)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes[VOLUME] == {"name": VOLUME, "secret": {"secretName": SECRET}}
    (main,) = pod["spec"]["containers"]
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == VOLUME]
    assert mount["readOnly"] is True
    assert len(set(mounts(main).values())) == len(main["volumeMounts"])  # a mount of its own
    init = pod["spec"]["initContainers"][0]
    assert VOLUME not in mounts(init)  # it writes the paths; only fedns reads the files


def test_secrets_are_the_admins_and_documented(objects):
    secrets = {v["secret"]["secretName"] for _, pod in manifests.pod_specs(objects)
               for v in pod["spec"].get("volumes", []) if "secret" in v}
    assert secrets == ADMIN_SECRETS | {SECRET}
    assert not manifests.find(objects, "Secret")  # never generated
    assert f"% kubectl -n fedns create secret tls {SECRET} " in README


def test_probes_are_https_on_the_api_port(objects):
    container = fedns_pod(objects)["spec"]["containers"][0]
    ports = {p["name"] for p in container["ports"]}
    assert {p: container[p]["httpGet"] for p in PROBES} == {
        "startupProbe": {"path": "/healthz", "port": "api", "scheme": "HTTPS"},
        "livenessProbe": {"path": "/healthz", "port": "api", "scheme": "HTTPS"},
        "readinessProbe": {"path": "/readyz", "port": "api", "scheme": "HTTPS"},
    }
    assert "api" in ports


def test_init_script_is_the_base_script_plus_the_certificate_lines(objects, plain):
    """Guards against drift: a change to deploy/base's script must be made here too."""
    script, base = init_script(objects), init_script(plain)
    extra = [line for line in script.splitlines() if "api-tls" in line]
    assert [line for line in script.splitlines() if "api-tls" not in line] == \
        base.splitlines(), "deploy/components/api-tls/fedns-https.yaml: update its script"
    assert len(extra) == 3 and "certFile=" in extra[1] and "keyFile=" in extra[2]


def run_init_script(objects: list[manifests.Obj], root: pathlib.Path) -> pathlib.Path:
    """Run the init container's script as the pod would, its mounts moved under root."""
    pod = fedns_pod(objects)
    init = pod["spec"]["initContainers"][0]
    script, paths = init_script(objects), mounts(init)
    for mount in paths.values():
        (root / mount.lstrip("/")).mkdir(parents=True)
        script = script.replace(f'"{mount}/', f'"{root}{mount}/')
    (root / paths["config-template"].lstrip("/") / "config.yaml").write_text(
        config_map(objects, "fedns-config")["config.yaml"])
    (root / paths["api-token"].lstrip("/") / "token").write_text("s3cret-token\n")
    exec(compile(script, "init-container", "exec"), {})  # noqa: S102 - the manifest's own script
    return root / paths["config"].lstrip("/") / "config.yaml"


def test_init_container_names_the_mounted_files_and_the_result_loads(objects, tmp_path):
    written = yaml.safe_load(run_init_script(objects, tmp_path).read_text())
    api = written["api"]
    # The files are the kubernetes.io/tls keys inside the Secret's mount in fedns.
    mount = mounts(fedns_pod(objects)["spec"]["containers"][0])[VOLUME]
    assert (api["certFile"], api["keyFile"]) == (f"{mount}/tls.crt", f"{mount}/tls.key")

    # fedns's own loader, with a throwaway certificate where the Secret would be.
    certificate = tls.self_signed("fedns-api.fedns.svc")
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "tls.crt").write_bytes(certificate.cert_pem)
    (secret_dir / "tls.key").write_bytes(certificate.key_pem)
    api["certFile"] = api["certFile"].replace(mount, str(secret_dir))
    api["keyFile"] = api["keyFile"].replace(mount, str(secret_dir))
    path = tmp_path / "loaded.yaml"
    path.write_text(yaml.safe_dump(written))
    settings = config.load(str(path))
    assert settings.api.ssl_context() is not None
    assert settings.api.token == "s3cret-token"
    # Everything else is exactly the ConfigMap's config.
    original = config.parse(yaml.safe_load(config_map(objects, "fedns-config")["config.yaml"]))
    assert dataclasses.replace(settings, api=dataclasses.replace(
        settings.api, token="", cert_file="", key_file="")) == original


def test_every_object_validates_in_strict_mode(objects):
    # the ServiceMonitor has no schema: the ServiceMonitor test below checks it
    assert manifests.validate_strictly(objects)[1] == manifests.CUSTOM_KINDS


def test_service_monitor_scrapes_https_verifying_the_certificate(objects):
    monitor = manifests.one(objects, "ServiceMonitor", "fedns")
    endpoint = fedns_endpoint(objects)
    (service,) = [s for s in manifests.find(objects, "Service") if manifests.matches(
        monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert (endpoint["scheme"], endpoint["path"]) == ("https", "/metrics")
    # Prometheus connects to pod addresses: the name it checks is the Service's.
    name = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert endpoint["tlsConfig"] == {"serverName": name,
                                     "ca": {"secret": {"name": SECRET, "key": "ca.crt"}}}
    # the other ServiceMonitors are untouched
    for other in ("coredns", "etcd"):
        (e,) = manifests.one(objects, "ServiceMonitor", other)["spec"]["endpoints"]
        assert e["scheme"] == "http" and "tlsConfig" not in e


# -- composing with overlays and the ServiceMonitor component ------------------------------

def test_on_top_of_an_overlay_the_order_does_not_matter(tmp_path):
    objects = throwaway_overlay(tmp_path, ["overlays/ha"], ["components/api-tls"])
    assert is_https(objects)
    assert fedns_endpoint(objects)["scheme"] == "https"
    assert manifests.one(objects, "Deployment", "fedns")["spec"]["replicas"] == 2


def test_without_the_service_monitors_it_works_alone(tmp_path):
    objects = throwaway_overlay(tmp_path, ["base", "etcd"], ["components/api-tls"])
    assert is_https(objects)
    assert not manifests.find(objects, "ServiceMonitor")
    assert manifests.validate_strictly(objects) == (len(objects), set())


def test_listed_before_the_service_monitors_it_leaves_them_on_http(tmp_path):
    """What the README warns of: components apply in order."""
    objects = throwaway_overlay(tmp_path, ["base", "etcd"],
                                ["components/api-tls", "components/servicemonitor"])
    assert is_https(objects)
    assert fedns_endpoint(objects)["scheme"] == "http"


def test_a_changed_service_monitor_fails_the_build(tmp_path):
    """The patch tests the endpoint's port before changing it, rather than guess."""
    component = tmp_path / "components"
    shutil.copytree(manifests.DEPLOY / "components", component)
    monitors = component / "servicemonitor" / "servicemonitor.yaml"
    monitors.write_text(monitors.read_text().replace("- port: api", "- port: web", 1))
    where = tmp_path / "overlay"
    where.mkdir()
    (where / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(manifests.DEPLOY / "base", where)],
        "components": ["../components/servicemonitor", "../components/api-tls"]}))
    result = subprocess.run([manifests.kubectl(), "kustomize", str(where)], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode != 0 and "/spec/endpoints/0/port" in result.stderr


# -- deploy/README.md ---------------------------------------------------------------------

def test_readme_documents_the_component_and_its_order():
    assert "| `components/api-tls/` |" in README
    assert "## HTTPS for the API\n" in README
    block = README.split("## HTTPS for the API\n", 1)[1].split("~~~ yaml\n", 1)[1]
    listed = yaml.safe_load(block.split("~~~", 1)[0])["components"]
    fixture = yaml.safe_load((FIXTURE / "kustomization.yaml").read_text())["components"]
    assert [pathlib.PurePath(p).name for p in listed] == \
        [pathlib.PurePath(p).name for p in fixture] == ["servicemonitor", "api-tls"]
    assert "TLS is not" not in README and "insecureSkipVerify" not in README


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> None:
    """A TLS handshake in memory; raises what the client's verification raises."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    client_side = client.wrap_bio(client_in, client_out, server_hostname=name)
    done = {"server": False, "client": False}
    for _ in range(10):
        for side, key, out, peer in ((client_side, "client", client_out, server_in),
                                     (server_side, "server", server_out, client_in)):
            if not done[key]:
                try:
                    side.do_handshake()
                    done[key] = True
                except ssl.SSLWantReadError:
                    pass
            peer.write(out.read())
        if all(done.values()):
            return
    raise AssertionError(f"handshake did not finish: {done}")


def dry_run(command: str, cwd: pathlib.Path) -> manifests.Obj:
    argv = shlex.split(command)
    assert argv[0] == "kubectl"
    done = subprocess.run([manifests.kubectl(), *argv[1:], "--dry-run=client", "-o", "yaml"],
                          capture_output=True, text=True, cwd=cwd, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_readme_commands_make_a_secret_fedns_and_prometheus_accept(objects, tmp_path):
    commands = [c for c in readme_commands() if SECRET in c or c.startswith("openssl ")]
    (make_cert,) = [c for c in commands if c.startswith("openssl ")]
    made = subprocess.run(shlex.split(make_cert), capture_output=True, text=True, cwd=tmp_path,
                          timeout=30, check=False)
    assert made.returncode == 0, made.stderr
    shutil.copy(tmp_path / "tls.crt", tmp_path / "ca.crt")  # self-signed: its own CA

    secrets = [dry_run(c, tmp_path) for c in commands if " create secret " in c]
    assert [sorted(s["data"]) for s in secrets] == [["tls.crt", "tls.key"],
                                                    ["ca.crt", "tls.crt", "tls.key"]]
    for secret in secrets:
        assert (secret["type"], secret["metadata"]["name"], secret["metadata"]["namespace"]) \
            == ("kubernetes.io/tls", SECRET, "fedns")
        for key, value in secret["data"].items():
            assert base64.b64decode(value) == (tmp_path / key).read_bytes()

    # fedns gets the files it is configured with, and serves with them ...
    written = yaml.safe_load(run_init_script(objects, tmp_path / "pod").read_text())
    names = {pathlib.PurePath(written["api"][k]).name for k in ("certFile", "keyFile")}
    assert names <= set(secrets[0]["data"])
    served = config.parse({**written, "api": {**written["api"],
                                              "certFile": str(tmp_path / "tls.crt"),
                                              "keyFile": str(tmp_path / "tls.key")}})
    server = served.api.ssl_context()
    assert server is not None

    # ... and the certificate passes the ServiceMonitor's check, which is a real one.
    check = fedns_endpoint(objects)["tlsConfig"]
    assert check["ca"]["secret"]["key"] in secrets[1]["data"]
    client = ssl.create_default_context(cafile=str(tmp_path / check["ca"]["secret"]["key"]))
    handshake(server, client, check["serverName"])
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(served.api.ssl_context(), client, "fedns-api.other.svc")
