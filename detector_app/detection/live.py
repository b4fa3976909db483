"""Live detection: capture and inference on separate threads with a latest-frame-wins hand-off.

When inference is slower than the camera, frames that arrive while the detector is busy replace each
other in a one-item slot: stale frames are dropped, never queued, so frame-to-result latency stays
bounded (at most about two inference times) however long it runs. No Qt here: a GUI worker passes
callbacks, which run on the inference thread. No torch either: the detector is passed in, so the GUI imports
this module before any model is loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from detector_app.core.detections import Detections
from detector_app.sources.base import Frame, FrameSource

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

log = logging.getLogger(__name__)

T = TypeVar("T")
JOIN_TIMEOUT_S = 10.0


class LatestSlot(Generic[T]):
    """Holds at most one item. ``put`` replaces an unread item (counted in ``dropped``); ``get`` waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer ``item``; False once the slot is closed."""
        with self._cond:
            if self._closed:
                return False
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting for one; None on timeout or when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        """No more puts; a waiting ``get`` returns the last item, if any, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class RateMeter:
    """Events per second over a sliding window of recent events."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if now is None else now)

    @property
    def rate(self) -> float:
        with self._lock:
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class LiveStats:
    capture_fps: float
    inference_fps: float
    latency_s: float  # capture of the frame -> its result ready, for the latest result
    dropped: int = 0
    processed: int = 0


@dataclass(frozen=True)
class LiveResult:
    frame: Frame
    detections: Detections
    latency_s: float
    stats: LiveStats


@dataclass(frozen=True)
class _Captured:
    frame: Frame
    at: float  # time.monotonic() when read() returned


class LivePipeline:
    """Runs ``detector`` on the newest frame of ``source`` until the source ends or ``stop()``.

    ``on_result(LiveResult)``, ``on_error(exc)`` and ``on_finished()`` run on the inference thread.
    ``pace``: read a file source at its own frame rate, like a camera (default: on for files, since a
    live source paces itself).
    """

    def __init__(
        self,
        source: FrameSource,
        detector: Detector,
        on_result: Callable[[LiveResult], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        pace: bool | None = None,
        close_source: bool = True,
    ) -> None:
        self.source, self.detector = source, detector
        self._on_result, self._on_error, self._on_finished = on_result, on_error, on_finished
        self._pace = (not source.is_live) if pace is None else pace
        self._close_source = close_source
        self._slot: LatestSlot[_Captured] = LatestSlot()
        self._stop = threading.Event()
        self._capture_rate, self._inference_rate = RateMeter(), RateMeter()
        self._latency = 0.0
        self._processed = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> LivePipeline:
        if self._threads:
            raise RuntimeError("pipeline already started")
        self._threads = [
            threading.Thread(target=self._capture_loop, name="live-capture", daemon=True),
            threading.Thread(target=self._inference_loop, name="live-inference", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> None:
        """Ask both threads to end and wait for them (a frame being inferred finishes first)."""
        self._stop.set()
        self._slot.close()
        self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the threads to end; True when they have."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def stats(self) -> LiveStats:
        return LiveStats(self._capture_rate.rate, self._inference_rate.rate, self._latency, self._slot.dropped,
                         self._processed)

    def _capture_loop(self) -> None:
        interval = 1.0 / self.source.fps if self._pace and self.source.fps else 0.0
        next_due = time.monotonic()
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                now = time.monotonic()
                self._capture_rate.tick(now)
                if not self._slot.put(_Captured(frame, now)):
                    break
                if interval:
                    next_due = max(next_due + interval, now)  # after a slow read, do not burst to catch up
                    self._stop.wait(max(0.0, next_due - time.monotonic()))
        except Exception as exc:
            log.exception("frame capture failed")
            self._report_error(exc)
        finally:
            self._slot.close()
            if self._close_source:
                self.source.close()

    def _inference_loop(self) -> None:
        try:
            while (item := self._slot.get()) is not None and not self._stop.is_set():
                detections = self.detector.predict(item.frame.image)
                done = time.monotonic()
                self._latency = done - item.at
                self._processed += 1
                self._inference_rate.tick(done)
                self._on_result(LiveResult(item.frame, detections, self._latency, self.stats))
        except Exception as exc:
            log.exception("live inference failed")
            self._stop.set()
            self._slot.close()
            self._report_error(exc)
        finally:
            if self._on_finished is not None:
                self._on_finished()

    def _report_error(self, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(exc)
