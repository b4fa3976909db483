"""A non-blocking message strip above the canvas (errors and hints), dismissable."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

KINDS = ("error", "info")  # styled by QFrame#banner[kind="..."] in resources/styles/*.qss


class Banner(QFrame):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(self.label.textInteractionFlags())
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self, singleShot=True, timeout=self.hide)
        self.hide()

    def show_message(self, text: str, kind: str = "error", timeout_ms: int = 0) -> None:
        if kind not in KINDS:
            raise ValueError(f"banner kind {kind!r} is not one of {KINDS}")
        self.setProperty("kind", kind)
        for widget in (self, *self.findChildren(QWidget)):  # re-match the stylesheet rules on the new kind
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.label.setText(text)
        self.show()
        if timeout_ms:
            self._timer.start(int(timeout_ms))
        else:
            self._timer.stop()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
