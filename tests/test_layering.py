"""Imports run one way (docs/ARCHITECTURE.md): catalogs <- pipeline, catalogs <- training, all <- workflows."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "catalogs": {"pipeline", "training", "workflows"},
    "pipeline": {"training", "workflows", "dask", "distributed", "torch"},
    "training": {"pipeline", "workflows", "dask", "distributed"},
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_run_one_way(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_nothing_imports_workflows():
    for package in ("catalogs", "pipeline", "training"):
        for path in (ROOT / package).rglob("*.py"):
            assert "workflows" not in imported_roots(path), path


def _module_graph() -> dict[str, set[str]]:
    """Our modules -> the modules of ours they import (lazy imports inside functions included;
    ``from package import submodule`` counts as importing the submodule only)."""
    modules = {}
    for package in FORBIDDEN | {"workflows": set()}:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                targets = subs or {node.module}
            elif isinstance(node, ast.Import):
                targets = {alias.name for alias in node.names}
            else:
                continue
            graph[name] |= (targets & modules.keys()) - {name}
    return graph


def test_no_import_cycles():
    """A module that imports another must not be imported back by it, even lazily (ARCHITECTURE:
    one-way imports hold between modules too; a cycle means a concept sits in the wrong one)."""
    graph = _module_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return False

    cycles = sorted((a, b) for a in graph for b in graph[a] if reaches(b, a))
    assert cycles == []
