"""The live overlay shared by three threads: the player adds every captured frame, the detector adds each
result, the view reads the boxes of the frame it shows.

``OverlayPredictor`` is single-threaded; ``LiveOverlay`` puts one lock around it and keeps the optical flow
off the UI thread: ``add_frame`` runs on the player thread (3-5 ms of CPU a frame, 320x240 to 1280x720:
one small grey frame and one LK call), ``add_result`` on the detector thread (the catch-up over the frames
captured during the inference, 15-20 ms, computed outside the lock so the player does not wait for it), and
the view's ``boxes_for`` reads the boxes already computed for the last few frames under a second lock that no
flow is computed under, so the UI never waits for it.

Times are the frames' own timestamps (seconds into a video, since opening for a webcam), so a pause does not
look like motion; a frame that does not follow the previous one (a seek, Play again at the end) starts
the overlay afresh, and a result for a frame from before that is dropped.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np

from detector_app.core.detections import Detections
from detector_app.tracking.overlay import Mode, OverlayBox, OverlayPredictor

_KEYS = 300  # frames whose timestamps are remembered: more than the predictor's history (150)
_PUBLISHED = 8  # newest frames whose boxes the view can read without waiting


@dataclass(frozen=True)
class LiveBox:
    """One box to draw: its track, class name, score and xyxy corners in frame pixels."""

    track_id: int
    name: str
    score: float
    box: tuple[float, float, float, float]


def _frame_key(index: int, timestamp: float) -> tuple[int, int]:
    return int(index), round(float(timestamp) * 1e6)


class LiveOverlay:
    """Thread-safe boxes that follow their objects between detector results (see the module docstring)."""

    def __init__(self, mode: Mode = "flow", min_score: float = 0.0) -> None:
        self.mode = mode
        self.min_score = min_score  # results are fed from this score up (the view's threshold, set by it)
        self._lock = threading.Lock()  # the predictor
        self._shown_lock = threading.Lock()  # _published only: held for a dict look-up or update
        self._published: OrderedDict[tuple[int, int], list[LiveBox]] = OrderedDict()
        self._enabled = True
        self._costs: deque[float] = deque(maxlen=250)  # ms of add_frame, recent frames
        self._catch_up_costs: deque[float] = deque(maxlen=50)  # ms of add_result
        self._reset()

    def _reset(self) -> None:
        self._predictor = OverlayPredictor(self.mode)
        self._times: OrderedDict[tuple[int, int], float] = OrderedDict()
        self._last_index: int | None = None
        self._names: tuple[str, ...] = ()
        self._detection_time: float | None = None
        with self._shown_lock:
            self._published.clear()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, on: bool) -> None:
        """Off: frames and results are ignored (no cost). Back on: starts afresh, the frames in between unseen."""
        with self._lock:
            if on and not self._enabled:
                self._reset()
            self._enabled = on

    def add_frame(self, image: np.ndarray, index: int, timestamp: float) -> None:
        """Every captured frame, in order (the player thread)."""
        if not self._enabled:
            return
        start = time.thread_time()  # CPU time: what the frame costs, not how long others held the CPU
        key = _frame_key(index, timestamp)
        with self._lock:
            if self._last_index is not None and index != self._last_index + 1:
                self._reset()
            self._last_index = index
            self._predictor.add_frame(image, timestamp)
            self._times[key] = timestamp
            while len(self._times) > _KEYS:
                self._times.popitem(last=False)
            self._publish({key: timestamp})
        self._costs.append((time.thread_time() - start) * 1000)

    def add_result(self, index: int, timestamp: float, detections: Detections) -> bool:
        """A detector result for the frame ``(index, timestamp)`` (the detector thread). False when it was
        dropped: its frame is not one this overlay saw (off at the time, or from before a seek)."""
        if not self._enabled:
            return False
        shown = detections.without_background().with_min_score(self.min_score)
        start = time.thread_time()
        with self._lock:
            if _frame_key(index, timestamp) not in self._times:
                return False
            predictor = self._predictor
            plan = predictor.plan_result(shown, timestamp)
            self._names = shown.class_names
            self._detection_time = timestamp
        carried = predictor.catch_up(plan)  # the optical flow, without the lock: the player goes on meanwhile
        with self._lock:
            if predictor is not self._predictor:  # a seek while it ran: the result is for a past scene
                return False
            predictor.apply_result(plan, carried)
            with self._shown_lock:
                keys = list(self._published)
            self._publish({k: self._times[k] for k in keys if k in self._times})  # redrawn by the catch-up
        self._catch_up_costs.append((time.thread_time() - start) * 1000)
        return True

    def _publish(self, frames: dict[tuple[int, int], float]) -> None:
        """Under ``_lock``: make the boxes of these frames readable by ``boxes_for``."""
        ready = {}
        for key, timestamp in frames.items():
            found = self._predictor.boxes_at(timestamp)
            if found is not None:
                ready[key] = [_live_box(b, self._names) for b in found]
        with self._shown_lock:
            self._published.update(ready)
            while len(self._published) > _PUBLISHED:
                self._published.popitem(last=False)

    def boxes_for(self, index: int, timestamp: float) -> list[LiveBox] | None:
        """The boxes to draw on the frame ``(index, timestamp)``, one of the newest few (None for another)."""
        with self._shown_lock:
            return self._published.get(_frame_key(index, timestamp))

    @property
    def detection_time(self) -> float | None:
        """Timestamp of the frame the newest result was computed on (None before any since the last reset)."""
        return self._detection_time  # a copy kept by add_result: the view does not wait for a catch-up

    def cost_ms(self) -> dict[str, float]:
        """CPU ms per captured frame (median, p95, max over the last 250) and per result (median): what the
        player and the detector thread spend on the overlay."""
        frames, results = list(self._costs), list(self._catch_up_costs)
        if not frames:
            return {}
        ordered = sorted(frames)
        return {"frame_median": statistics.median(ordered), "frame_p95": ordered[int(0.95 * (len(ordered) - 1))],
                "frame_max": ordered[-1], "result_median": statistics.median(results) if results else 0.0}


def _live_box(box: OverlayBox, names: tuple[str, ...]) -> LiveBox:
    name = names[box.label] if 0 <= box.label < len(names) else f"class_{box.label}"
    x1, y1, x2, y2 = (float(v) for v in box.box)
    return LiveBox(box.track_id, name, box.score, (x1, y1, x2, y2))
