"""One way to make a window action: text, slot, shortcut in its tooltip, icon; reachable from any widget."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from detector_app.ui.icons import set_icon


def make_action(window: QWidget, text: str, slot: Callable[..., object],
                shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None, tip: str = "",
                checkable: bool = False, icon: str | None = None) -> QAction:
    action = QAction(text, window)
    if icon:
        set_icon(action, icon)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(f"{tip or text} ({action.shortcut().toString()})" if shortcut else (tip or text))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    window.addAction(action)  # shortcuts work whatever widget has focus
    return action
