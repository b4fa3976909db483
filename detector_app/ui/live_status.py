"""The live view's figures in the status bar and the View menu's "Follow objects between detections".

"capture 25.0 fps · detector 1.9 fps · overlay lag 0.53 s", read from the live view twice a second (not on
every result or frame: figures that change 25 times a second cannot be read). The label keeps the width of
the widest text it can show and is set only when its text changes, so neither it nor its neighbours in the
status bar move or flicker.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtWidgets import QLabel, QWidget

from detector_app.ui.actions import make_action
from detector_app.ui.live_view import LiveController

FOLLOW_KEY = "view/follow_objects"
REFRESH_MS = 500
_WIDEST = "capture 000.0 fps · detector 000.0 fps · overlay lag 00.00 s"


def rates_text(capture_fps: float, detector_fps: float | None, lag_s: float | None) -> str:
    """The status bar's text; ``detector_fps`` None: playing without a model."""
    detector = "detector off" if detector_fps is None else f"detector {detector_fps:.1f} fps"
    lag = "overlay lag –" if lag_s is None else f"overlay lag {lag_s:.2f} s"
    return f"capture {capture_fps:.1f} fps · {detector} · {lag}"


class LiveStatus(QObject):
    """Owns ``act_follow`` (checked: boxes follow their objects; remembered) and the rates label."""

    def __init__(self, window: QWidget, settings: QSettings, live: LiveController, label: QLabel) -> None:
        super().__init__(window)
        self.settings, self.live, self.label = settings, live, label
        self.act_follow = make_action(window, "Follow objects between detections", self.set_follow,
                                      tip="Live boxes move with their objects between two detector results "
                                          "(off: each stays where the last detection found it)", checkable=True)
        on = bool(settings.value(FOLLOW_KEY, True, type=bool))
        self.act_follow.setChecked(on)
        live.set_follow(on)
        label.setMinimumWidth(label.fontMetrics().horizontalAdvance(_WIDEST))
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        live.first_frame.connect(self._on_started)
        live.stopped.connect(self._on_stopped)

    def set_follow(self, on: bool) -> None:
        self.settings.setValue(FOLLOW_KEY, bool(on))
        self.live.set_follow(bool(on))

    def _on_started(self) -> None:
        self.refresh()
        self.timer.start()

    def _on_stopped(self) -> None:
        self.timer.stop()
        self.label.setText("")

    def refresh(self) -> None:
        capture, detector, lag = self.live.rates()
        text = rates_text(capture, detector if self.live.detector_worker is not None else None, lag)
        if text != self.label.text():
            self.label.setText(text)
