"""Background work on QThreads: playing a source, live detection, batch detection.

Each worker is a QObject moved to its own QThread, loops in ``run`` and checks a threading.Event,
so stop/cancel is honoured between two frames (at most one inference late). Hand-offs between
threads keep only the newest item (latest-frame-wins), so neither the detector nor the UI builds a
backlog when it is slower than the source.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThread, Signal, SignalInstance, Slot

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector
from detector_app.detection.live import LatestSlot, RateMeter
from detector_app.errors import DetectorAppError
from detector_app.sources import Frame, FrameSource

log = logging.getLogger(__name__)


def start_in_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` to a new thread, start its ``run`` there, and clean both up when it finishes."""
    thread = QThread()
    thread.setObjectName(name)
    thread.worker = worker  # keep the Python wrapper alive as long as the thread: else GC deletes it unrun
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit from the worker thread itself, so a UI thread blocked in wait() cannot deadlock it
    # (QThread.quit is thread-safe and also works when called before the thread's event loop starts).
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(worker.deleteLater)
    thread.start()
    return thread


@contextmanager
def report_errors(error: SignalInstance, what: str) -> Iterator[None]:
    """A worker must never take the app down: its failure becomes one message for the banner."""
    try:
        yield
    except DetectorAppError as exc:
        error.emit(str(exc))
    except Exception as exc:
        log.exception(what)
        error.emit(f"{what}: {type(exc).__name__}: {exc}")


def join_thread(thread: QThread) -> None:
    """Wait for ``thread`` to end. Always with a timeout: PySide's argument-less ``QThread.wait()`` keeps
    the GIL, so a worker that still needs Python to finish would deadlock against it."""
    while not thread.wait(100):
        pass


class PlayerWorker(QObject):
    """Reads frames at the source's own rate (files) or as they come (webcams)."""

    frame_ready = Signal()  # take the frame with take_frame(): only the newest is kept
    position = Signal(int, int)  # frame index, frame count (0 when unknown)
    error = Signal(str)
    finished = Signal()

    def __init__(self, open_source: Callable[[], FrameSource], detect_slot: LatestSlot | None) -> None:
        super().__init__()
        self._open_source = open_source
        self._detect_slot = detect_slot
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._seek_to: int | None = None
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._ui_pending = False
        self.capture_fps = 0.0

    def stop(self) -> None:
        self._stop.set()

    def set_paused(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()

    def seek(self, index: int) -> None:
        with self._lock:
            self._seek_to = int(index)

    def take_frame(self) -> Frame | None:
        with self._lock:
            frame, self._latest, self._ui_pending = self._latest, None, False
        return frame

    @Slot()
    def run(self) -> None:
        with report_errors(self.error, "playback stopped"):
            with self._open_source() as source:
                self._play(source)
        self.finished.emit()

    def _play(self, source: FrameSource) -> None:
        period = 1.0 / source.fps if source.fps and not source.is_live else 0.0
        meter, next_due = RateMeter(), time.monotonic()
        while not self._stop.is_set():
            seek = self._take_seek()
            if seek is not None:
                source.seek(seek)
            elif self._paused.is_set():
                time.sleep(0.02)
                continue
            frame = source.read()
            if frame is None:
                break
            meter.tick()
            self.capture_fps = meter.rate
            self._publish(frame, source.frame_count or 0)
            if period:
                next_due = max(next_due + period, time.monotonic() - period)
                self._stop.wait(max(0.0, next_due - time.monotonic()))

    def _take_seek(self) -> int | None:
        with self._lock:
            seek, self._seek_to = self._seek_to, None
        return seek

    def _publish(self, frame: Frame, count: int) -> None:
        if self._detect_slot is not None:
            self._detect_slot.put((frame, time.monotonic()))
        with self._lock:
            self._latest = frame
            notify, self._ui_pending = not self._ui_pending, True
        if notify:
            self.frame_ready.emit()
        self.position.emit(int(frame.index), int(count))


@dataclass(frozen=True)
class FrameResult:
    frame: Frame
    detections: Detections
    inference_fps: float
    latency_s: float  # capture of the frame -> result ready
    session: int = 0  # which start() of the live view produced it: late results of a stopped one are dropped


class DetectionWorker(QObject):
    """Runs the detector on the newest frame in ``slot`` until stopped."""

    result = Signal(object)  # FrameResult
    error = Signal(str)
    finished = Signal()

    def __init__(self, detector: Detector, slot: LatestSlot, session: int = 0) -> None:
        super().__init__()
        self.detector = detector
        self.slot = slot
        self.session = session
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self.slot.close()

    @Slot()
    def run(self) -> None:
        meter = RateMeter()
        with report_errors(self.error, "detection stopped"):
            while not self._stop.is_set():
                item = self.slot.get(timeout=0.1)
                if item is None:
                    continue
                frame, captured_at = item
                detections = self.detector.predict(frame.image)
                meter.tick()
                self.result.emit(FrameResult(frame, detections, meter.rate, time.monotonic() - captured_at,
                                             self.session))
        self.finished.emit()


@dataclass(frozen=True)
class BatchProgress:
    done: int
    total: int  # 0 when unknown
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if not self.total or not self.rate:
            return None
        return (self.total - self.done) / self.rate


class BatchWorker(QObject):
    """Detects on every ``every``-th frame of a source and stores each result as it comes.

    ``store(frame, detections)`` commits one frame's predictions; a cancel between two frames keeps
    all that was stored before it.
    """

    progress = Signal(object)  # BatchProgress
    error = Signal(str)
    finished = Signal(bool)  # True when it ran to the end, False when cancelled or failed

    def __init__(self, open_source: Callable[[], FrameSource], detector: Detector,
                 store: Callable[[Frame, Detections], None], every: int = 1) -> None:
        super().__init__()
        self._open_source = open_source
        self.detector = detector
        self.store = store
        self.every = max(1, int(every))
        self._cancel = threading.Event()
        self.processed = 0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @Slot()
    def run(self) -> None:
        completed = False
        with report_errors(self.error, "batch detection stopped"):
            with self._open_source() as source:
                completed = self._process(source)
        self.finished.emit(completed)

    def _process(self, source: FrameSource) -> bool:
        total = -(-source.frame_count // self.every) if source.frame_count else 0
        start = time.monotonic()
        while not self._cancel.is_set():
            frame = source.read()
            if frame is None:
                return True
            if frame.index % self.every:
                continue
            detections = self.detector.predict(frame.image)
            if self._cancel.is_set():
                return False  # the user cancelled during this inference: do not store it
            self.store(frame, detections)
            self.processed += 1
            self.progress.emit(BatchProgress(self.processed, total, time.monotonic() - start))
        return False


class CallWorker(QObject):
    """Runs one function off the UI thread (loading a model, say) and reports its result."""

    done = Signal(object)
    error = Signal(str)
    finished = Signal()

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__()
        self.fn = fn

    @Slot()
    def run(self) -> None:
        with report_errors(self.error, "background task failed"):
            self.done.emit(self.fn())
        self.finished.emit()
