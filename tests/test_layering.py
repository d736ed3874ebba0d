"""Imports run one way (DESIGN.md): catalogs <- pipeline, catalogs <- training, all <- workflows."""

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
