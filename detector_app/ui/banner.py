"""A non-blocking message strip above the canvas (errors and hints), dismissable."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

STYLES = {
    "error": "background:#fde2e1;color:#7a1c17;border:1px solid #f2b8b5;",
    "info": "background:#e3f0fd;color:#0f3d6e;border:1px solid #b6d4f5;",
}


class Banner(QFrame):
    def __init__(self, parent=None) -> None:  # noqa: ANN001
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
        self.setStyleSheet(f"QFrame#banner{{{STYLES[kind]}border-radius:4px;}} QLabel{{border:none;}}")
        self.label.setText(text)
        self.show()
        if timeout_ms:
            self._timer.start(int(timeout_ms))
        else:
            self._timer.stop()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
