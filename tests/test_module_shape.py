"""Guard rails of STYLE.md checked on the source, so that a change breaking them fails the build:

- no module of ours (library, core, adapters, tests, bench, scripts) is over 400 lines;
- every public function, method and class of ``edxml/``, ``gateway/`` and ``adapters/``
  (module or class level; nested helpers are private by nature) has a docstring saying
  what it does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 400
SOURCE = ("edxml", "gateway", "adapters")
EVERYTHING = (*SOURCE, "tests", "bench", "scripts")


def _modules(*roots: str) -> Iterator[Path]:
    for root in roots:
        yield from sorted((REPO / root).rglob("*.py"))


def _undocumented(body: list[ast.stmt], prefix: str = "") -> Iterator[tuple[int, str]]:
    for node in body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name.startswith("_"):
            continue
        if ast.get_docstring(node) is None:
            yield node.lineno, prefix + node.name
        if isinstance(node, ast.ClassDef):
            yield from _undocumented(node.body, f"{node.name}.")


def test_the_scan_sees_the_tree() -> None:
    """The checks below would pass vacuously on an empty scan."""
    assert sum(1 for _ in _modules(*SOURCE)) > 100
    assert sum(1 for _ in _modules("tests")) > 100


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in _modules(*EVERYTHING)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules by what they do: {long}"


def test_every_public_function_and_class_has_a_docstring() -> None:
    missing = [
        f"{path.relative_to(REPO)}:{line} {name}"
        for path in _modules(*SOURCE)
        for line, name in _undocumented(ast.parse(path.read_text(encoding="utf-8")).body)
    ]
    assert missing == [], "\n".join(missing)


def test_the_docstring_check_finds_an_undocumented_method() -> None:
    tree = ast.parse("class A:\n    '''doc'''\n    def f(self):\n        pass\n")
    assert list(_undocumented(tree.body)) == [(3, "A.f")]
