"""Adapters import the core, never each other (import-linter covers the Python packages;
this covers the Ansible plugins, which are not importable as a package from here)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("plugins", ("pulumi_stratos", "pulumi", "stratos.agent")),
        ("pulumi_stratos", ("ansible", "ansible_collections", "stratos.agent")),
        ("stratos", ("ansible", "ansible_collections", "pulumi", "pulumi_stratos")),
    ],
    ids=["ansible-plugins", "pulumi-components", "core"],
)
def test_no_adapter_imports_another(folder: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in files(folder)
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert offenders == []


def test_the_check_sees_the_files() -> None:
    assert files("stratos"), "the layering check must have files to look at"
