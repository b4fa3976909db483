"""Nothing outside detector_app/ui/ imports Qt: checked statically and at run time.

For the package the rule is an import-linter contract in pyproject.toml (tests/test_architecture.py runs it);
the shipped plugins are not part of the package, so their syntax trees are read here: a forbidden import is
caught even in a branch that never runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from .conftest import REPO_ROOT

QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pytestqt")


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def is_ui_path(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return "ui" in parts[:-1] or path.name.startswith("ui_")


def find_violations(root: Path) -> list[tuple[Path, int, str]]:
    """``(path, line, module)`` of every import of a Qt module in ``root``'s Python files outside a ``ui`` folder."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if is_ui_path(path, root):
            continue
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in QT_MODULES:
                found.append((path, line, module))
    return found


def _report(violations: list[tuple[Path, int, str]]) -> str:
    return "\n".join(f"{path}:{line}: imports {module} outside the UI layer" for path, line, module in violations)


def test_shipped_plugins_import_qt_only_as_ui_plugins() -> None:
    """A plugin that needs Qt lives in a ``ui`` sub-folder or a ``ui_*.py`` module."""
    violations = find_violations(REPO_ROOT / "plugins")
    assert violations == [], _report(violations)


def test_rule_catches_a_core_module_that_imports_qt(tmp_path: Path) -> None:
    pkg = tmp_path / "detector_app"
    (pkg / "storage").mkdir(parents=True)
    (pkg / "ui").mkdir()
    (pkg / "storage" / "bad.py").write_text("import os\nfrom PySide6.QtCore import QObject\n")
    (pkg / "ui" / "fine.py").write_text("from PySide6.QtWidgets import QWidget\n")
    (pkg / "detection").mkdir()
    (pkg / "detection" / "lazy.py").write_text("def f():\n    import PySide6.QtGui\n")

    violations = find_violations(pkg)

    assert [(path.name, line, module) for path, line, module in violations] == [
        ("lazy.py", 2, "PySide6.QtGui"),
        ("bad.py", 2, "PySide6.QtCore"),
    ]


def test_headless_cli_does_not_load_qt() -> None:
    code = (
        "import sys, pkgutil, importlib, detector_app\n"
        "for m in pkgutil.walk_packages(detector_app.__path__, 'detector_app.'):\n"
        "    if not any(s in m.name for s in ('.ui', 'migrations', '__main__', 'gui_run')):\n"
        "        importlib.import_module(m.name)\n"
        "from detector_app.cli.main import build_parser; build_parser()\n"
        "print(sorted(n for n in sys.modules if n.startswith(('PySide6', 'shiboken6'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"
