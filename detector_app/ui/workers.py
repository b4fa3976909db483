"""Background work off the UI thread: one-shot calls and batch detection on superqt workers, live playback
and live detection on their own QThreads.

One-shot and cancellable work uses superqt (``FunctionWorker``, ``GeneratorWorker``): its ``returned``,
``yielded``, ``errored`` and ``finished`` signals are queued to the UI thread, and ``quit()`` cancels a
generator at its next ``yield``. ``BackgroundTasks`` keeps every started worker referenced until it
finishes (else Python's GC may delete a QRunnable before the pool runs it) and joins them on close.

The live loops (``PlayerWorker``, ``DetectionWorker``) stay on hand-written QThreads, for two reasons:
- latest-frame-wins: the player keeps only the newest frame and signals the UI only when none is
  pending, and the detector reads the newest frame from a ``LatestSlot``, so neither the UI nor the
  detector builds a backlog when it is slower than the source. A superqt generator emits one queued
  ``yielded`` per value and has no such hand-off, and its pause/quit are polled only between yields
  while these loops block in a read or an inference.
- they run as long as the source plays: on QThreadPool.globalInstance() (as many threads as cores: two
  on the target machine) they would hold every pool thread and queue a model load behind them.

One error path: a failure in any worker becomes one banner message, the DetectorAppError's text or
"what failed: Type: message" with the traceback in the log (``failure_message``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThread, QThreadPool, Signal, SignalInstance, Slot
from superqt.utils import FunctionWorker, GeneratorWorker, WorkerBase

from detector_app.core.detections import Detections
from detector_app.detection.live import LatestSlot, RateMeter
from detector_app.errors import DetectorAppError
from detector_app.sources import Frame, FrameSource

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

log = logging.getLogger(__name__)


def failure_message(what: str, exc: BaseException) -> str:
    """The banner text for a worker's failure; anything but a DetectorAppError is logged with its traceback."""
    if isinstance(exc, DetectorAppError):
        return str(exc)
    log.error("%s", what, exc_info=(type(exc), exc, exc.__traceback__))
    return f"{what}: {type(exc).__name__}: {exc}"


# superqt workers ------------------------------------------------------------------------------------------
class _Joinable:
    """Mixed into a superqt worker: ``join`` waits until its ``run`` has returned.

    A threading.Event, not QThreadPool.waitForDone: that waits for every task of the pool, and PySide's
    blocking waits may keep the GIL (see ``join_thread``) where Event.wait releases it.
    """

    def _init_join(self) -> None:
        self._done = threading.Event()

    def run(self) -> None:
        try:
            super().run()  # type: ignore[misc]
        finally:
            self._done.set()

    def join(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)


class CallWorker(_Joinable, FunctionWorker):
    """Runs one function off the UI thread (loading a model, say): ``returned`` or ``errored``, then ``finished``.

    ``quit()`` cannot stop the function; it only drops its result (``returned`` is not emitted).
    """

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(fn)
        self._init_join()


class BackgroundTasks:
    """The superqt workers one owner started: referenced until they finish, cancelled and joined on close."""

    def __init__(self) -> None:
        self._running: set[WorkerBase] = set()

    def start(self, worker: WorkerBase) -> WorkerBase:
        self._running.add(worker)
        worker.finished.connect(lambda: self._running.discard(worker))
        # Not worker.start(): inside a running event loop it defers the start by a timer, and a join
        # before that timer fires would wait for a worker that never runs.
        QThreadPool.globalInstance().start(worker)
        return worker

    def join(self) -> None:
        for worker in list(self._running):
            worker.quit()
            worker.join()
        self._running.clear()


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


class BatchWorker(_Joinable, GeneratorWorker):
    """Detects on every ``every``-th frame of a source and stores each result as it comes.

    ``store(frame, detections)`` commits one frame's predictions. ``quit()`` cancels at the next yield:
    one comes after each inference, before its result is stored, so a cancel during an inference drops
    that result and keeps all that was stored before it. Returns True when it ran to the end.
    """

    def __init__(self, open_source: Callable[[], FrameSource], detector: Detector,
                 store: Callable[[Frame, Detections], None], every: int = 1) -> None:
        self.processed = 0
        super().__init__(self._frames, open_source, detector, store, max(1, int(every)))
        self._init_join()

    def work(self) -> object:
        try:
            return super().work()
        finally:
            self._gen.close()  # a cancelled run closes its source here, on the worker thread

    def _frames(self, open_source: Callable[[], FrameSource], detector: Detector,
                store: Callable[[Frame, Detections], None], every: int) -> Generator[BatchProgress | None, None, bool]:
        with open_source() as source:
            total = -(-source.frame_count // every) if source.frame_count else 0
            start = time.monotonic()
            while True:
                frame = source.read()
                if frame is None:
                    return True
                if frame.index % every:
                    continue
                detections = detector.predict(frame.image)
                yield None  # the cancel point between an inference and storing its result
                store(frame, detections)
                self.processed += 1
                yield BatchProgress(self.processed, total, time.monotonic() - start)


# live loops on QThreads -------------------------------------------------------------------------------------
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
    except Exception as exc:
        error.emit(failure_message(what, exc))


def join_thread(thread: QThread) -> None:
    """Wait for ``thread`` to end. Always with a timeout: PySide's argument-less ``QThread.wait()`` keeps
    the GIL, so a worker that still needs Python to finish would deadlock against it."""
    while not thread.wait(100):
        pass


class PlayerWorker(QObject):
    """Reads frames at the source's own rate (files) or as they come (webcams)."""

    frame_ready = Signal()  # take the frame with take_frame(): only the newest is kept
    position = Signal(int, int)  # frame index, frame count (0 when unknown)
    ended = Signal()  # a file reached its end: the player waits there for a seek (or stop)
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
        self.opened = threading.Event()  # the source is open: until then a stream may block for many seconds
        self.muted = threading.Event()  # stopped while opening: its failure is not reported

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
        try:
            source = self._open_source()
            self.opened.set()
            with source:
                self._play(source)
        except Exception as exc:  # a worker must never take the app down: one message for the banner
            if not self.muted.is_set():
                self.error.emit(failure_message("playback stopped", exc))
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
                if source.is_live or not source.frame_count:
                    break
                self.ended.emit()  # a file: stay open at its end, so that a seek (or Play from the start) works
                while not self._stop.is_set() and not self._seek_pending():
                    self._stop.wait(0.02)
                continue
            meter.tick()
            self.capture_fps = meter.rate
            self._publish(frame, source.frame_count or 0)
            if period:
                next_due = max(next_due + period, time.monotonic() - period)
                self._stop.wait(max(0.0, next_due - time.monotonic()))

    def _seek_pending(self) -> bool:
        with self._lock:
            return self._seek_to is not None

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

    def __init__(self, detector: Detector, slot: LatestSlot, session: int = 0,
                 predict_lock: threading.Lock | None = None) -> None:
        super().__init__()
        self.detector = detector
        self.slot = slot
        self.session = session
        # Shared by the workers of one view: a worker stopped mid-inference is left to finish on its own
        # (Stop never waits for it), and its successor's first inference waits here instead, off the UI thread.
        self.predict_lock = predict_lock or threading.Lock()
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
                if item is None or not self.predict_lock.acquire(timeout=0.1):
                    continue
                try:
                    if self._stop.is_set():
                        break
                    frame, captured_at = item
                    detections = self.detector.predict(frame.image)
                finally:
                    self.predict_lock.release()
                meter.tick()
                self.result.emit(FrameResult(frame, detections, meter.rate, time.monotonic() - captured_at,
                                             self.session))
        self.finished.emit()

