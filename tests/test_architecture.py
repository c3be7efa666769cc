"""The import rules of DESIGN.md, checked on the source: imports point inward.

- ``edxml/`` imports nothing of ours (it is a library usable alone);
- ``gateway/`` (the core) imports ``adapters/`` only in the composition root
  (``gateway/app.py``, ``gateway/cli.py`` and the CLI commands package it assembles);
- no adapter imports another adapter, nor the store (``gateway.store``): adapters reach the
  core through its operations, never its tables.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("edxml", "gateway", "adapters")
COMPOSITION_ROOT = {"gateway/app.py", "gateway/cli.py"}
SHARED_ADAPTER_MODULES = {
    "adapters/bodies.py",
    "adapters/edge.py",
    "adapters/credentials.py",
    "adapters/__init__.py",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement in ``path`` names, with its line number."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            base = path.parent.relative_to(REPO).parts
            base = base[: len(base) - (node.level - 1)]
            found += [(node.lineno, ".".join((*base, *(node.module or "").split("."))))]
    return found


def _sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _adapter_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "adapters" and len(parts) > 1 else None


def test_edxml_imports_nothing_of_ours() -> None:
    bad = [
        f"{_rel(p)}:{line} imports {name}"
        for p in _sources("edxml")
        for line, name in _imports(p)
        if name.split(".")[0] in ("gateway", "adapters", "tests", "bench")
    ]
    assert bad == []


def test_core_imports_adapters_only_in_the_composition_root() -> None:
    bad = [
        f"{_rel(p)}:{line} imports {name}"
        for p in _sources("gateway")
        if _rel(p) not in COMPOSITION_ROOT
        for line, name in _imports(p)
        if name.split(".")[0] == "adapters"
    ]
    assert bad == []


def test_adapters_do_not_import_each_other() -> None:
    bad = []
    for path in _sources("adapters"):
        own = _adapter_of(".".join(path.relative_to(REPO).with_suffix("").parts))
        for line, name in _imports(path):
            other = _adapter_of(name)
            if (
                other
                and own
                and other != own
                and f"adapters/{other}.py" not in SHARED_ADAPTER_MODULES
            ):
                bad.append(f"{_rel(path)}:{line} imports {name}")
    assert bad == []


def test_adapters_do_not_reach_into_the_store() -> None:
    bad = [
        f"{_rel(p)}:{line} imports {name}"
        for p in _sources("adapters")
        for line, name in _imports(p)
        if name == "gateway.store" or name.startswith("gateway.store.")
    ]
    assert bad == []


@pytest.mark.parametrize("package", OURS)
def test_the_checker_sees_imports(package: str) -> None:
    # Guard against a checker that silently finds nothing: every package imports something.
    assert any(_imports(p) for p in _sources(package))


def test_the_core_implements_its_port_with_the_same_signatures() -> None:
    """Every operation the doors call (``gateway.ports.Core``) exists on the core with the
    same parameters and the same typed answer."""
    import inspect
    import typing

    from gateway.core.operations import Gateway
    from gateway.ports import Core

    for name, port in inspect.getmembers(Core, inspect.isfunction):
        if name.startswith("_"):
            continue
        impl = getattr(Gateway, name)
        assert list(inspect.signature(impl).parameters) == list(
            inspect.signature(port).parameters
        ), name
        assert typing.get_type_hints(impl)["return"] == typing.get_type_hints(port)["return"], name
