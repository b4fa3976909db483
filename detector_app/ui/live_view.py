"""Live mode: a webcam or video plays on the canvas; detection overlays come from a worker thread.

Stopping never waits for a source that is still opening (a stream URL can take its whole connect timeout):
that player is left to finish on its own, cut off from the view, and ``shutdown`` joins it when the window
closes.

With "Follow objects between detections" on (``follow``), the boxes on each displayed frame are tracks that
move with their objects between two detector results (ui/live_overlay.py, tracking/live.py); off, each
frame shows the newest result's boxes where they were found.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from detector_app.core.detections import Detections
from detector_app.core.draw import class_color
from detector_app.detection.live import LatestSlot, RateMeter
from detector_app.sources import Frame, FrameSource
from detector_app.tracking.live import LiveOverlay
from detector_app.ui.box_item import BoxSpec
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.live_overlay import OverlayFeed, feed_results, overlay_specs
from detector_app.ui.workers import DetectionWorker, FrameResult, PlayerWorker, join_thread, start_in_thread

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

log = logging.getLogger(__name__)


def hidden_note(all_boxes: Detections, shown: int, threshold: float) -> str:
    """Why the view is empty when the model did find boxes: they all score below the threshold."""
    if shown or not len(all_boxes):
        return ""
    return (f"{len(all_boxes)} boxes below the threshold {threshold:.2f} "
            f"(best score {float(max(all_boxes.scores)):.2f})")


def detection_specs(detections: Detections) -> list[BoxSpec]:
    return [BoxSpec(None, tuple(float(v) for v in xywh), name, float(score), "live", class_color(name))
            for xywh, name, score in zip(detections.xywh, detections.names, detections.scores, strict=True)]


class LiveController(QObject):
    """Owns the player and detection threads of the source on screen."""

    stats_changed = Signal(float, float, float)  # capture fps, inference fps, latency s
    position_changed = Signal(int, int)
    error = Signal(str)
    stopped = Signal()
    first_frame = Signal()  # the source delivers: a "connecting…" note can go
    ended = Signal()  # a video reached its end (the player waits there for a seek)
    boxes_shown = Signal(object)  # list[BoxSpec] on the canvas: for the box table
    note_changed = Signal(str)  # hidden_note() of the boxes on screen, "" when nothing is hidden

    def __init__(self, canvas: AnnotationCanvas, threshold: Callable[[], float],
                 class_filter: Callable[[], set[str] | None]) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.threshold = threshold
        self.class_filter = class_filter
        self.player: PlayerWorker | None = None
        self.detector_worker: DetectionWorker | None = None
        self._threads: list[QThread] = []
        # Threads stopped but not waited for: players still opening their source, detectors still inferring.
        self._abandoned: list[QThread] = []
        self._predict_lock = threading.Lock()  # one inference at a time across this view's detector workers
        self.at_end = False
        self.frame: Frame | None = None
        self.result: FrameResult | None = None
        self.frames_shown = 0
        self._session = 0
        self.follow = True  # boxes follow their objects between results (View menu, ui/live_status.py)
        self.overlay: LiveOverlay | None = None  # the running source's, when a detector runs
        self.display_meter = RateMeter()  # frames the canvas showed per second
        self.frame_ms: deque[float] = deque(maxlen=250)  # UI thread CPU ms per shown frame (image, boxes, table)

    @property
    def running(self) -> bool:
        return self.player is not None

    def start(self, open_source: Callable[[], FrameSource], detector: Detector | None) -> None:
        self.stop()
        self._session += 1
        self.frame, self.result, self.at_end = None, None, False
        self.redraw()
        slot = LatestSlot() if detector is not None else None
        self.overlay = LiveOverlay(min_score=self.threshold()) if slot is not None else None
        if self.overlay is not None:
            self.overlay.set_enabled(self.follow)
        self.player = PlayerWorker(open_source, OverlayFeed(self.overlay, slot) if self.overlay else slot)
        self.player.frame_ready.connect(self._on_frame)
        self.player.position.connect(self.position_changed)
        self.player.ended.connect(self._on_ended)
        self.player.error.connect(self.error)
        self.player.finished.connect(self._on_player_finished)
        self._threads.append(start_in_thread(self.player, "player"))
        if detector is not None:
            self.detector_worker = DetectionWorker(detector, slot, self._session, self._predict_lock)
            feed_results(self.detector_worker, self.overlay)  # first: the overlay has the result when the UI hears
            self.detector_worker.result.connect(self._on_result)
            self.detector_worker.error.connect(self.error)
            self._threads.append(start_in_thread(self.detector_worker, "detector"))

    def stop(self) -> None:
        """Stop both workers without waiting for an inference in progress (it can take seconds on a CPU):
        that thread ends on its own and its result is dropped."""
        if self.player is not None:
            self.player.stop()
        if self.detector_worker is not None:
            self.detector_worker.stop()
        self._abandoned = [t for t in self._abandoned if not t.isFinished()]
        for thread in self._threads:
            thread.quit()
            worker = thread.worker
            if isinstance(worker, PlayerWorker) and not worker.opened.is_set() and not thread.isFinished():
                worker.muted.set()  # its failure to open (after the user stopped it) is nobody's business
                self._abandoned.append(thread)
                continue
            if isinstance(worker, DetectionWorker) and not thread.wait(50):
                worker.error.disconnect()  # what it says after Stop is nobody's business either
                self._abandoned.append(thread)
                continue
            thread.wait(30_000)
        self._threads.clear()
        was_running = self.player is not None
        self.player, self.detector_worker = None, None
        if was_running:
            self.stopped.emit()

    def shutdown(self) -> None:
        """Stop, and wait for players still opening a source (the window is closing)."""
        self.stop()
        for thread in self._abandoned:
            join_thread(thread)
        self._abandoned.clear()

    def set_paused(self, paused: bool) -> None:
        if self.player is not None:
            self.player.set_paused(paused)

    def seek(self, index: int) -> None:
        if self.player is not None:
            self.player.seek(index)

    def _on_frame(self) -> None:
        frame = self.player.take_frame() if self.player is not None else None
        if frame is None:
            return
        if self.frame is None:
            self.first_frame.emit()
        start = time.thread_time()  # CPU time: what showing a frame costs, whatever else shares the CPU
        self.frame, self.at_end = frame, False
        self.frames_shown += 1
        self.display_meter.tick()
        self.canvas.set_image(frame.image)
        self.redraw()
        self.frame_ms.append((time.thread_time() - start) * 1000)

    def _on_result(self, result: FrameResult) -> None:
        if result.session != self._session or self.detector_worker is None:
            return  # posted just before stop(): the canvas may already show something else
        self.result = result
        self.redraw()
        capture = self.player.capture_fps if self.player is not None else 0.0
        self.stats_changed.emit(capture, result.inference_fps, result.latency_s)

    def visible_detections(self) -> Detections | None:
        if self.result is None:
            return None
        shown = self.result.detections.without_background().with_min_score(self.threshold())
        return shown.with_classes(sorted(self.class_filter() or []))

    def set_follow(self, on: bool) -> None:
        """Boxes follow their objects between results (on) or stay where the newest result found them (off)."""
        self.follow = on
        if self.overlay is not None:
            self.overlay.set_enabled(on)
        self.redraw()

    def rates(self) -> tuple[float, float, float | None]:
        """Capture fps, detector fps (0 without a detector or before its first result) and the overlay's lag.

        The lag is the age of the detection the boxes on screen are anchored to: the displayed frame's
        timestamp minus that of the frame the newest result was computed on (None before any result). Boxes
        that follow their objects are still anchored to that detection, so the figure is the same rule in
        both modes; what following changes is how far the boxes are from their objects meanwhile."""
        capture = self.player.capture_fps if self.player is not None else 0.0
        detector = self.result.inference_fps if self.result is not None and self.detector_worker else 0.0
        anchor = None
        if self.overlay is not None and self.follow:
            anchor = self.overlay.detection_time
        elif self.result is not None:
            anchor = self.result.frame.timestamp
        lag = None if anchor is None or self.frame is None else self.frame.timestamp - anchor
        return capture, detector, lag if lag is None or lag >= 0 else None

    def _followed_specs(self) -> list[BoxSpec] | None:
        """The tracked boxes of the frame on screen (None when not following or the overlay has not seen it)."""
        if not self.follow or self.overlay is None or self.frame is None:
            return None
        self.overlay.min_score = self.threshold()
        boxes = self.overlay.boxes_for(self.frame.index, self.frame.timestamp)
        return None if boxes is None else overlay_specs(boxes, self.threshold(), self.class_filter())

    def redraw(self) -> None:
        """Overlays on the frame on screen: the followed tracks, or the newest finished result, filtered by the
        current threshold and classes."""
        specs = self._followed_specs()
        if specs is None:
            shown = self.visible_detections()
            specs = detection_specs(shown) if shown is not None else []
        self.canvas.set_boxes(specs, editable=False)
        self.boxes_shown.emit(specs)
        note = ""
        if self.result is not None:
            found = self.result.detections.without_background().with_classes(sorted(self.class_filter() or []))
            note = hidden_note(found, len(specs), self.threshold())
        self.note_changed.emit(note)

    def _on_ended(self) -> None:
        self.at_end = True
        self.ended.emit()

    def _on_player_finished(self) -> None:
        log.info("source ended")
