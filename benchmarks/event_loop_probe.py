"""Measures how long the UI event loop is blocked: a timer that records how late it fires (for the UI benchmark)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer


class EventLoopProbe(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_s = interval_ms / 1000.0
        self.delays_s: list[float] = []
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.delays_s.append(max(0.0, now - self._last - self.interval_s))
        self._last = now

    def summary_ms(self) -> dict[str, float]:
        """Stall (lateness beyond the timer interval) percentiles in milliseconds."""
        d = np.asarray(self.delays_s or [0.0]) * 1000.0
        return {"n": float(len(self.delays_s)), "p50": float(np.percentile(d, 50)),
                "p99": float(np.percentile(d, 99)), "max": float(d.max())}
