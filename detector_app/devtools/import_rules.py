"""The Qt import rule: only ``detector_app/ui/`` (and UI plugins) may import PySide6.

Static check over the source with :mod:`ast`, so a forbidden import is caught even in a branch
that never runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

QT_MODULES = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pytestqt")


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module} outside the UI layer"


def imported_modules(source: str) -> Iterable[tuple[int, str]]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def is_ui_path(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return "ui" in parts[:-1] or path.name.startswith("ui_")


def find_violations(root: Path) -> list[Violation]:
    """Every import of a Qt module in ``root``'s Python files outside a ``ui`` folder."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if is_ui_path(path, root):
            continue
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in QT_MODULES:
                found.append(Violation(path, line, module))
    return found
