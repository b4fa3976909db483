"""Batch detection over a folder or a whole video, with a progress dialog that can cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from detector_app.core.detections import Detections
from detector_app.sources import Frame, FrameSource
from detector_app.ui.workers import BackgroundTasks, BatchProgress, BatchWorker, failure_message

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class BatchRun(QObject):
    """A running batch: the worker plus its non-modal progress dialog."""

    finished = Signal(bool, int)  # completed, frames stored
    error = Signal(str)

    def __init__(self, parent: QWidget, tasks: BackgroundTasks, open_source: Callable[[], FrameSource],
                 detector: Detector, store: Callable[[Frame, Detections], None], every: int = 1) -> None:
        super().__init__(parent)
        self.worker = BatchWorker(open_source, detector, store, every)
        self._completed = False
        self.dialog = QProgressDialog("Starting…", "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle("Batch detection")
        self.dialog.setWindowModality(Qt.WindowModality.NonModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_returned)
        self.worker.errored.connect(self._on_errored)
        self.worker.finished.connect(self._on_finished)
        tasks.start(self.worker)
        self.dialog.show()

    def cancel(self) -> None:
        self.worker.quit()
        self.dialog.setLabelText("Cancelling after the current frame…")

    def wait(self, msecs: int = 60_000) -> bool:
        return self.worker.join(msecs / 1000)

    def _on_progress(self, p: BatchProgress | None) -> None:
        if p is None:  # the cancel point after an inference
            return
        if p.total:
            self.dialog.setMaximum(int(p.total))
            self.dialog.setValue(int(min(p.done, p.total)))
        total = f" of {p.total}" if p.total else ""
        self.dialog.setLabelText(f"{p.done}{total} frames · {p.rate:.1f}/s · ETA {format_eta(p.eta_s)}")

    def _on_returned(self, completed: object) -> None:
        self._completed = bool(completed)

    def _on_errored(self, exc: Exception) -> None:
        self.error.emit(failure_message("batch detection stopped", exc))

    def _on_finished(self) -> None:
        self.dialog.hide()
        self.dialog.deleteLater()
        self.finished.emit(self._completed, self.worker.processed)
