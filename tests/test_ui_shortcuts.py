"""F1 lists every shortcut of the window, written from the actions themselves (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from detector_app.ui.main_window import MainWindow
from detector_app.ui.shortcuts import ShortcutsSheet, shortcut_rows

from .ui_helpers import make_settings

pytestmark = pytest.mark.gui


def test_f1_sheet_lists_every_action_shortcut(qtbot, tmp_path: Path, project_dir: Path) -> None:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    help_action = next(a for a in win.actions() if a.shortcut() == QKeySequence("F1"))
    seen: list[ShortcutsSheet] = []

    def read_and_close() -> None:
        sheet = QApplication.activeModalWidget()
        seen.append(sheet)
        sheet.reject()

    QTimer.singleShot(200, read_and_close)
    help_action.trigger()  # F1: the sheet is modal; the timer reads and closes it
    assert len(seen) == 1 and isinstance(seen[0], ShortcutsSheet)
    keys = " / ".join(k for k, _ in seen[0].rows)
    for wanted in ("Ctrl+B", "Ctrl+T", "Ctrl+E", "Ctrl+O", "Ctrl+Shift+O", "Ctrl+U", "Space", "K", "F1",
                   "Ctrl+Z", "1 … 9"):
        assert wanted in keys.split(" / "), wanted
    # Every shortcut the window answers is on the sheet: it is written from the actions, so cannot drift.
    listed = set(keys.split(" / "))
    for action in win.actions():
        for key in action.shortcuts():
            text = key.toString(QKeySequence.SequenceFormat.NativeText)
            assert text in listed or action.text().startswith("Class "), (action.text(), text)
    rows = dict((v, k) for k, v in seen[0].rows)
    assert rows["Next image"] == "N / Right" and "Detect all" in " ".join(rows)
    assert "Wheel / middle drag" in seen[0].label.text()
    win.close()


def test_f1_rows_say_each_thing_once(qtbot, tmp_path: Path, project_dir: Path) -> None:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    rows = dict(shortcut_rows(win))
    assert rows["K"] == "Play / pause"  # was "Pause: Play / pause"
    assert rows["Esc"] == "Stop the live source"
    assert rows["Space"] == "Capture the frame and its boxes into the project"
    assert rows["Ctrl+B"] == "Detect all: Detect on every frame or image of the source"  # the tip adds to it
    win.close()
