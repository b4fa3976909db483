"""Storing frames into the project (capture and Detect all alike) and a batch run with its progress dialog,
which turns into the run's summary and stays until the person closes it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from detector_app.core.detections import Detections
from detector_app.detection.storing import boxes_to_store
from detector_app.review.predictions import store_frame
from detector_app.sources import Frame, FrameSource
from detector_app.sources.images import ImageFilesSource
from detector_app.storage.repository import Repository
from detector_app.ui.workers import BackgroundTasks, BatchProgress, BatchWorker, failure_message

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector


def format_eta(seconds: float | None) -> str:
    """A running countdown (m:ss)."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_duration(seconds: float) -> str:
    """A time ahead in words a person reads at a glance: "40 s", "12 min", "3.9 h"."""
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def project_images_source(paths: Sequence[Path]) -> ImageFilesSource:
    """The project's images waiting for a model, as a source (unusable files are skipped)."""
    return ImageFilesSource(paths, f"{len(paths)} project images")


@dataclass
class Tally:
    """Counts of a run, written by the worker thread only and read by the UI once it has finished."""

    stored: int = 0
    boxes: int = 0
    empty: int = 0  # frames without a box, not stored
    kept: int = 0  # images already labelled or reviewed, left as they were


class BatchRun(QObject):
    """A running Detect all: the worker, its non-modal progress dialog and then its summary."""

    finished = Signal(bool, int)  # completed, frames stored
    error = Signal(str)

    def __init__(self, parent: QWidget, tasks: BackgroundTasks, open_source: Callable[[], FrameSource],
                 detector: Detector, repo: Repository, version_id: int | None, threshold: float,
                 only_with_detections: bool, what: str = "the source", every: int = 1) -> None:
        super().__init__(parent)
        self.tally = Tally()
        self.what = what
        self.rate = 0.0  # frames per second, measured
        self._store_args = (repo, version_id, threshold, only_with_detections)
        self.worker = BatchWorker(open_source, detector, self._store, every)
        self._completed = False
        self._error: str | None = None
        self.dialog = QProgressDialog("Starting…", "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle("Detect all")
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

    def _store(self, frame: Frame, detections: Detections) -> None:
        repo, version_id, threshold, only_with_detections = self._store_args
        boxes = boxes_to_store(detections, threshold, only_with_detections)
        if boxes is None:
            self.tally.empty += 1
            return
        stored = store_frame(repo, frame, boxes, version_id)
        if stored.left_alone:
            self.tally.kept += 1
        else:
            self.tally.stored += 1
            self.tally.boxes += stored.added

    def cancel(self) -> None:
        self.worker.quit()
        self.dialog.setLabelText("Cancelling after the current frame…")

    def wait(self, msecs: int = 60_000) -> bool:
        return self.worker.join(msecs / 1000)

    def summary(self) -> str:
        t = self.tally
        verb = "Finished" if self._completed else "Stopped"
        parts = [f"{verb} {self.what}: {self.worker.processed} frames looked at",
                 f"{t.stored} stored with {t.boxes} boxes to review"]
        if t.empty:
            parts.append(f"{t.empty} without detections not stored")
        if t.kept:
            parts.append(f"{t.kept} already labelled or reviewed, kept as they were")
        text = ", ".join(parts) + "."
        return f"{text}\n{self._error}" if self._error else text

    def _on_progress(self, p: BatchProgress | None) -> None:
        if p is None:  # the cancel point after an inference
            return
        self.rate = p.rate
        if p.total:
            self.dialog.setMaximum(int(p.total))
            self.dialog.setValue(int(min(p.done, p.total)))
        total = f" of {p.total}" if p.total else ""
        self.dialog.setLabelText(f"{p.done}{total} frames · {p.rate:.1f}/s · ETA {format_eta(p.eta_s)}\n"
                                 f"{self.tally.stored} stored, {self.tally.empty} without detections")

    def _on_returned(self, completed: object) -> None:
        self._completed = bool(completed)

    def _on_errored(self, exc: Exception) -> None:
        self._error = failure_message("batch detection stopped", exc)
        self.error.emit(self._error)

    def _on_finished(self) -> None:
        """The progress dialog becomes the summary, with Close instead of Cancel: it stays until dismissed."""
        self.dialog.canceled.disconnect(self.cancel)
        self.dialog.canceled.connect(self.dialog.hide)
        self.dialog.setMaximum(max(1, self.dialog.maximum()))
        self.dialog.setValue(self.dialog.maximum() if self._completed else self.dialog.value())
        self.dialog.setCancelButtonText("Close")
        self.dialog.setLabelText(self.summary())
        self.dialog.show()
        self.finished.emit(self._completed, self.tally.stored)
