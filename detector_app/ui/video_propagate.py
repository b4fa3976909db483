"""Propagate on a superqt worker: the detector and the tracker run forward N frames off the UI thread, with a
progress dialog whose Cancel stops before anything is stored.

``VideoTasks.propagate`` decodes and detects every frame first and writes once at the end, so a cancel raised
from inside the detector call (the only place it calls back) leaves the project untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from detector_app.core.detections import Detections
from detector_app.review.video_edits import VideoEdit, VideoTasks
from detector_app.ui.workers import BackgroundTasks, CallWorker, failure_message


class PropagateCancelled(Exception):
    """Raised inside the worker when the person pressed Cancel (never shown as an error)."""


class PropagateRun(QObject):
    """One propagate: ``done(edit)`` when it stored its proposals, ``failed(text)``, or ``cancelled``."""

    progress = Signal(int)  # frames detected so far (emitted on the worker thread, queued to the UI)
    done = Signal(object)  # VideoEdit
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QWidget, tasks: VideoTasks, video_id: int, frame: int, count: int,
                 detect: Callable[[np.ndarray], Detections], min_score: float, model_version_id: int | None,
                 background: BackgroundTasks) -> None:
        super().__init__(parent)
        self.count = count
        self._cancel = threading.Event()
        self._done = 0

        def detect_counted(image: np.ndarray) -> Detections:
            if self._cancel.is_set():
                raise PropagateCancelled
            found = detect(image)
            self._done += 1
            self.progress.emit(self._done)
            return found

        self.dialog = QProgressDialog(f"Propagating over {count} frames…", "Cancel", 0, count, parent)
        self.dialog.setWindowTitle("Propagate")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(300)  # a short run finishes without a dialog flashing up
        self.dialog.canceled.connect(self.cancel)
        self.progress.connect(self.dialog.setValue)
        self.worker = CallWorker(lambda: tasks.propagate(video_id, frame, count, detect_counted,
                                                         min_score=min_score, model_version_id=model_version_id))
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.finished.connect(self._close_dialog)
        background.start(self.worker)

    @property
    def running(self) -> bool:
        return not self.worker.join(0)

    def cancel(self) -> None:
        self._cancel.set()

    def _on_returned(self, edit: VideoEdit) -> None:
        self.done.emit(edit)

    def _on_errored(self, exc: BaseException) -> None:
        if isinstance(exc, PropagateCancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(failure_message("propagate stopped", exc))

    def _close_dialog(self) -> None:
        self.dialog.reset()
        self.dialog.hide()
