"""Nothing outside detector_app/ui/ imports Qt: checked statically and at run time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from detector_app.devtools.import_rules import find_violations

from .conftest import REPO_ROOT


def test_core_does_not_import_qt() -> None:
    violations = find_violations(REPO_ROOT / "detector_app")
    assert violations == [], "\n".join(map(str, violations))


def test_shipped_plugins_import_qt_only_as_ui_plugins() -> None:
    """A plugin that needs Qt lives in a ``ui`` sub-folder or a ``ui_*.py`` module."""
    violations = find_violations(REPO_ROOT / "plugins")
    assert violations == [], "\n".join(map(str, violations))


def test_rule_catches_a_core_module_that_imports_qt(tmp_path: Path) -> None:
    pkg = tmp_path / "detector_app"
    (pkg / "storage").mkdir(parents=True)
    (pkg / "ui").mkdir()
    (pkg / "storage" / "bad.py").write_text("import os\nfrom PySide6.QtCore import QObject\n")
    (pkg / "ui" / "fine.py").write_text("from PySide6.QtWidgets import QWidget\n")
    (pkg / "detection").mkdir()
    (pkg / "detection" / "lazy.py").write_text("def f():\n    import PySide6.QtGui\n")

    violations = find_violations(pkg)

    assert [(v.path.name, v.line, v.module) for v in violations] == [
        ("lazy.py", 2, "PySide6.QtGui"),
        ("bad.py", 2, "PySide6.QtCore"),
    ]


def test_headless_cli_does_not_load_qt() -> None:
    code = (
        "import sys, pkgutil, importlib, detector_app\n"
        "for m in pkgutil.walk_packages(detector_app.__path__, 'detector_app.'):\n"
        "    if not any(s in m.name for s in ('.ui', 'migrations', '__main__')):\n"
        "        importlib.import_module(m.name)\n"
        "from detector_app.cli.main import build_parser; build_parser()\n"
        "print(sorted(n for n in sys.modules if n.startswith(('PySide6', 'shiboken6'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"
