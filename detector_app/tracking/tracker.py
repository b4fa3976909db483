"""Track ids for the app's ``Detections``: ByteTrack behind a thin adapter, and back.

ByteTrack (Zhang et al. 2022) associates high-score boxes to Kalman-predicted tracks by IoU, then gives
the tracks left over a second chance with the low-score boxes. Two implementations: ``"bytetrack"``
(ours, :mod:`detector_app.tracking.bytetrack`, the default: as good on the generated sequences and about
20x faster, see benchmarks/bench_tracking.py) and ``"supervision"`` (supervision's, pinned at 0.30.9, its
last release with ``ByteTrack``; 0.31 moved it to the ``trackers`` package, which requires the
non-headless opencv-python that clashes with PySide6), kept as the reference ours is measured against
(a dev dependency: the app itself does not need it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from detector_app.core.detections import Detections
from detector_app.tracking.bytetrack import ByteTracker

NO_TRACK = -1  # a detection that no confirmed track holds (yet)


@dataclass(frozen=True)
class TrackerConfig:
    """How tracks start, match and end.

    ``rate`` is how many updates a second the tracker gets (the video's fps divided by ``--every``, or the
    detector's rate on live footage); with ``lost_s`` it sets how many updates a lost track is kept for.
    """

    rate: float = 30.0
    lost_s: float = 1.0
    activation_score: float = 0.25  # boxes below it only extend existing tracks (ByteTrack's second pass)
    match_threshold: float = 0.8  # largest 1 - IoU * score accepted in the first pass
    min_frames: int = 1  # updates a track must be matched in before it gets an id
    backend: Literal["bytetrack", "supervision"] = "bytetrack"

    @property
    def lost_updates(self) -> int:
        return max(1, round(self.lost_s * self.rate))


@dataclass(frozen=True)
class Tracked:
    """Detections of one frame with the track id of each (``NO_TRACK`` where none)."""

    detections: Detections
    track_ids: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.detections)

    def confirmed(self) -> Tracked:
        """Only the detections that belong to a track."""
        keep = self.track_ids != NO_TRACK
        return Tracked(self.detections[keep], self.track_ids[keep])


class Tracker:
    """Feed it each frame's detections in order; it returns them with track ids. Class-agnostic, as
    ByteTrack is: a track keeps its id when the detector changes its mind about the class."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video); ids start again at 1."""
        c = self.config
        if c.backend == "bytetrack":
            self._own = ByteTracker(c.activation_score, c.match_threshold, c.lost_updates, c.min_frames)
            return
        if c.backend != "supervision":
            raise ValueError(f"unknown tracker backend {c.backend!r}; use bytetrack or supervision")
        self._own = None
        # Imported here: the reference backend only (a dev dependency), and it takes about 2 s to import.
        import supervision as sv

        self._sv = sv
        with warnings.catch_warnings():  # the deprecation notice is about 0.31, which we do not install
            warnings.simplefilter("ignore", FutureWarning)
            # frame_rate=30 makes supervision's lost-track buffer count updates exactly (it scales by rate/30).
            self._byte = sv.ByteTrack(track_activation_threshold=c.activation_score, lost_track_buffer=c.lost_updates,
                                      minimum_matching_threshold=c.match_threshold, frame_rate=30,
                                      minimum_consecutive_frames=c.min_frames)

    def update(self, detections: Detections) -> Tracked:
        """One frame's detections, in the order given, each with its track id."""
        if self._own is not None:
            return Tracked(detections, self._own.update(detections.boxes, detections.scores).astype(np.int64))
        ids = np.full(len(detections), NO_TRACK, dtype=np.int64)
        if len(detections):
            sv_dets = self._sv.Detections(xyxy=detections.boxes.astype(np.float32), confidence=detections.scores,
                                          class_id=detections.labels.astype(int),
                                          data={"index": np.arange(len(detections))})
        else:
            sv_dets = self._sv.Detections.empty()
            sv_dets.confidence = np.zeros(0, dtype=np.float32)
        out = self._byte.update_with_detections(sv_dets)
        if len(out):
            ids[np.asarray(out.data["index"], dtype=np.int64)] = np.asarray(out.tracker_id, dtype=np.int64)
        return Tracked(detections, ids)
