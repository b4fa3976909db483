"""A slider that keeps its arrow keys: the window's Left/Right shortcuts (previous/next image) would take them."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QSlider, QWidget

SLIDER_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp,
               Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End)


class KeySlider(QSlider):
    """A horizontal QSlider that, while it has focus, claims its keys before the window's shortcuts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def event(self, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and event.key() in SLIDER_KEYS and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            event.accept()  # the key comes to keyPressEvent instead of triggering a shortcut
            return True
        return super().event(event)
