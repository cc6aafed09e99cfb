"""The layering of DESIGN.md, enforced: import-linter's contracts (pyproject.toml), plus
what a contract cannot say — the pure packages use nothing of fedns but its errors,
and no module imports itself through others (no cycles)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import grimp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("fedns", "ipam", "placement", "propagate", "corefile")
PURE_PACKAGES = ("ipam", "placement", "propagate", "corefile")


def lint_imports(root: pathlib.Path) -> subprocess.CompletedProcess:
    script = pathlib.Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(root)})


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)


def test_the_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_its_contract(tmp_path):
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "ipam" / "pool.py", "a") as f:
        f.write("\nimport asyncio  # noqa\n")
    with open(tmp_path / "fedns" / "controller" / "runtime.py", "a") as f:
        f.write("\nfrom fedns.api import server  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Pure code imports no I/O library BROKEN" in result.stdout
    assert "The controller never imports the API BROKEN" in result.stdout
    assert "ipam.pool -> asyncio" in result.stdout


def test_the_pure_packages_use_nothing_of_fedns_but_its_errors(graph):
    found = sorted(
        f"{module} imports {imported}"
        for package in PURE_PACKAGES
        for module in graph.find_descendants(package) | {package}
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] == "fedns" and imported != "fedns.errors")
    assert found == []


def test_there_are_no_import_cycles(graph):
    assert cycles(graph) == []


def test_a_cycle_is_found():
    g = grimp.ImportGraph()
    for importer, imported in (("a.x", "a.y"), ("a.y", "a.z"), ("a.z", "a.x"), ("a.z", "a.w")):
        g.add_import(importer=importer, imported=imported)
    assert cycles(g) == [["a.x", "a.y", "a.z"]]


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Modules that import each other, directly or through others (Tarjan's strongly
    connected components, iteratively: no recursion limit)."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(
                        graph.find_modules_directly_imported_by(child)))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
