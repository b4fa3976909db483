"""The structure holds: import-linter's contracts (layers, Qt only in ui, a pure label model), no import cycle,
no module too big to read at once, and each review status spelled in one place only."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp

from .conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "detector_app"
MAX_MODULE_LINES = 400
STATUS_VALUES = frozenset({"predicted", "accepted", "corrected", "rejected"})
LABEL_MODEL = PACKAGE / "core" / "labels.py"


def source_files() -> Iterator[Path]:
    for root in (PACKAGE, REPO_ROOT / "plugins"):
        for path in sorted(root.rglob("*.py")):
            if "migrations" not in path.parts:  # a migration is a record of the past, not code to change
                yield path


def test_import_linter_contracts_are_kept() -> None:
    """Layers from core up to cli/ui, Qt only in ui, no database or torch under the label model and codecs
    (the contracts are in pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycles_among_modules() -> None:
    """grimp sees every import, including those inside functions (they hide a cycle, they do not remove it)."""
    graph = grimp.build_graph("detector_app", include_external_packages=False, cache_dir=None)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for module, imported in edges.items():  # a package's __init__ importing its own submodules is no cycle
        imported -= {m for m in imported if m.startswith(module + ".")}
    assert _cycles(edges) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_over_400_lines() -> None:
    sizes = {path.relative_to(REPO_ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in source_files()}
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_review_statuses_are_spelled_only_in_the_label_model() -> None:
    """Everything else names them through ``core.labels.Status`` (a second spelling would drift)."""
    found = []
    for path in source_files():
        if path == LABEL_MODEL:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in STATUS_VALUES:
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []
