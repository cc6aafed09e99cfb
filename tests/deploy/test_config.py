"""The config the manifests mount is one ``fedns run`` accepts, and everything agrees with it.

The ConfigMap's config.yaml loads with :func:`fedns.config.load` (the validation
``fedns run`` does before starting); the init container's script, run for real on
that file and a token, gives a config that loads with the token set; the Corefile
in the CoreDNS ConfigMap is exactly a fresh ``fedns corefile render`` of the same
config; and the ports, paths and etcd address in the config are the ones the
manifests open and mount.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shlex

import pytest
import yaml

from corefile import check, render
from fedns import config
from fedns import store as store_urls
from tests.corefile.helpers import fedns
from tests.deploy import manifests

# The render command, as deploy/README.md and the base kustomization give it.
RENDER = "fedns corefile render --config deploy/base/config.yaml --port 1053"


@pytest.fixture(params=manifests.OVERLAYS)
def objects(request):
    return manifests.render(f"overlays/{request.param}")


def config_map(objects, prefix: str) -> dict[str, str]:
    found = [o for o in manifests.find(objects, "ConfigMap")
             if o["metadata"]["name"].startswith(prefix + "-")]
    assert len(found) == 1, prefix
    return found[0]["data"]


def fedns_pod(objects) -> manifests.Obj:
    return manifests.one(objects, "Deployment", "fedns")["spec"]["template"]


def mounts(container: manifests.Obj) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container["volumeMounts"]}


def test_committed_config_loads():
    settings = config.load(str(manifests.DEPLOY / "base" / "config.yaml"))
    assert settings.members and settings.pools
    assert settings.api.token == ""  # the token comes from the Secret, never the ConfigMap


def test_mounted_config_is_the_committed_one_and_loads(objects, tmp_path):
    text = config_map(objects, "fedns-config")["config.yaml"]
    assert text == (manifests.DEPLOY / "base" / "config.yaml").read_text()
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config.load(str(path))


def test_init_container_adds_the_token_and_the_result_loads(objects, tmp_path):
    pod = fedns_pod(objects)
    (init,) = pod["spec"]["initContainers"]
    assert init["command"] == ["python", "-c"]
    script = init["args"][0]
    paths = mounts(init)
    # Run the script as the pod would, with its three mounts moved under tmp_path.
    for mount in paths.values():
        (tmp_path / mount.lstrip("/")).mkdir(parents=True)
        script = script.replace(f'"{mount}/', f'"{tmp_path}{mount}/')
    assert '"/etc/' not in script  # every path it opens is under one of its mounts
    (tmp_path / paths["config-template"].lstrip("/") / "config.yaml").write_text(
        config_map(objects, "fedns-config")["config.yaml"])
    (tmp_path / paths["api-token"].lstrip("/") / "token").write_text("s3cret-token\n")
    exec(compile(script, "init-container", "exec"), {})  # noqa: S102 - the manifest's own script
    result = tmp_path / paths["config"].lstrip("/") / "config.yaml"
    settings = config.load(str(result))
    assert settings.api.token == "s3cret-token"
    original = config.parse(yaml.safe_load(config_map(objects, "fedns-config")["config.yaml"]))
    # Everything else is exactly the ConfigMap's config.
    assert dataclasses.replace(settings, api=dataclasses.replace(settings.api, token="")) == original


def test_main_container_reads_the_config_the_init_container_wrote(objects):
    pod = fedns_pod(objects)
    main = pod["spec"]["containers"][0]
    init = pod["spec"]["initContainers"][0]
    config_path = main["args"][main["args"].index("--config") + 1]
    assert str(pathlib.PurePath(config_path).parent) == mounts(main)["config"] == \
        mounts(init)["config"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"]["emptyDir"]["medium"] == "Memory"


def test_member_kubeconfigs_are_in_the_members_secret_mount(objects):
    settings = config.load(str(manifests.DEPLOY / "base" / "config.yaml"))
    mount = mounts(fedns_pod(objects)["spec"]["containers"][0])["members"]
    for member in settings.members:
        assert str(pathlib.PurePath(member.kubeconfig).parent) == mount
        assert pathlib.PurePath(member.kubeconfig).name == f"{member.name}.kubeconfig"


def test_ports_and_store_agree_with_the_manifests(objects):
    settings = config.load(str(manifests.DEPLOY / "base" / "config.yaml"))
    ports = {p["name"]: p["containerPort"] for p in
             manifests.container_ports(fedns_pod(objects))}
    assert ports["api"] == config.split_listen(settings.api.listen)[1]
    assert ports["dns"] == ports["dns-tcp"] == config.split_listen(settings.dns.listen)[1]
    ((host, port),) = store_urls.parse_endpoints(settings.store)
    etcd = manifests.one(objects, "Service", host)
    assert [p["port"] for p in etcd["spec"]["ports"]] == [port]


def test_corefile_is_a_fresh_render_of_the_config(objects, tmp_path, monkeypatch):
    monkeypatch.chdir(manifests.ROOT)
    result = fedns(shlex.split(RENDER)[1:])
    assert (result.code, result.err) == (0, "")
    mounted = config_map(objects, "coredns")["Corefile"]
    assert mounted == result.out, f"deploy/base/Corefile is stale: run {RENDER} > deploy/base/Corefile"
    assert (manifests.DEPLOY / "base" / "Corefile").read_text() == result.out
    domain = config.load("deploy/base/config.yaml").domain
    assert check.check(mounted, domain) == []


def test_render_command_is_the_documented_one():
    readme = (manifests.DEPLOY / "README.md").read_text()
    assert f"% {RENDER} > deploy/base/Corefile\n" in readme
    kustomization = (manifests.DEPLOY / "base" / "kustomization.yaml").read_text()
    assert RENDER.replace("deploy/base/", "") in kustomization


def test_coredns_listens_where_the_corefile_says(objects):
    pod = manifests.one(objects, "Deployment", "coredns")["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    corefile = config_map(objects, "coredns")["Corefile"]
    server = next(line for line in corefile.splitlines() if line.endswith(" {")
                  and not line.startswith(" "))
    assert server == f"example.com:{ports['dns']} {{" and ports["dns-tcp"] == ports["dns"]
    assert f"    health {render.HEALTH} {{" in corefile.splitlines()
    assert (f":{ports['health']}", f":{ports['ready']}", f":{ports['metrics']}") == (
        render.HEALTH, render.READY, render.METRICS)
    assert container["args"] == ["-conf", f"{mounts(container)['corefile']}/Corefile"]
