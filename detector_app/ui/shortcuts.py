"""The F1 sheet, written from the window's actions themselves: a shortcut added anywhere shows up here."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

MOUSE_ROWS: tuple[tuple[str, str], ...] = (
    ("Wheel / middle drag", "Zoom / pan the image"),
    ("Drag on the image (drawing)", "Draw a box"),
    ("Drag a box or its corners", "Move / resize the box"),
)
CLASS_KEYS_TEXT = "Set the class of the selected box (the class table's order)"
_CLASS_KEY = re.compile(r"^Class (\d)$")  # the nine "Class N" actions read as one row
_TRAILER = re.compile(r"\s*\([^()]*\)$")  # "Next image (→)" is "Next image"; a tooltip's "(Ctrl+B)" goes


def _plain(text: str) -> str:
    while _TRAILER.search(text):  # a tooltip may end in two: "Next image (→) (Right)"
        text = _TRAILER.sub("", text)
    return text.replace("&", "").rstrip("…").strip()


def _describe(action: QAction) -> str:
    text, tip = _plain(action.text()), _plain(action.toolTip())
    if not tip or tip.lower() == text.lower():
        return text
    # A tip that names the action already says it all ("Pause: Play / pause" reads as a stutter).
    return tip if text.lower() in tip.lower() else f"{text}: {tip}"


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(keys, what they do) for every action of ``window`` that has a shortcut, actions doing the same
    thing (Next image: N and →) on one row, in the order the actions were made."""
    rows: dict[str, list[str]] = {}
    for action in window.actions():
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
        if not keys:
            continue
        if _CLASS_KEY.match(action.text()):
            rows[CLASS_KEYS_TEXT] = ["1 … 9"]
            continue
        known = rows.setdefault(_describe(action), [])
        known.extend(k for k in keys if k not in known)
    return [(" / ".join(keys), what) for what, keys in rows.items()]


class ShortcutsSheet(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = shortcut_rows(window) + list(MOUSE_ROWS)
        body = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>&nbsp;&nbsp;{html.escape(v)}</td></tr>"
                       for k, v in self.rows)
        self.label = QLabel(f"<table cellpadding=3>{body}</table>")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        scroll = QScrollArea()
        scroll.setWidget(self.label)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 640)
