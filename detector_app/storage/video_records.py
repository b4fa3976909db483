"""Plain, immutable records of video tasks: videos, tracks, stored boxes on frames, and what a frame shows.

``TrackRecord`` and ``FrameBoxRecord`` double as undo snapshots (``VideoStore.restore`` writes them back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from detector_app.core.tracks import BoxKind

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class VideoRecord:
    id: int
    path: Path  # absolute path of the video file
    stored_path: str  # as stored: relative to the project folder when inside it
    frame_count: int
    fps: float | None
    width: int
    height: int
    fingerprint: str


@dataclass(frozen=True)
class TrackRecord:
    id: int
    video_id: int
    category_id: int
    category_name: str
    ended_at_frame: int | None  # the first frame the object is gone; None: open to the end of the video
    created_by: str | None = None  # a person's name, or "model" for a track propagate started
    created_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FrameBoxRecord:
    """A box stored on a frame of a video (an ``annotations`` row): on a track or plain."""

    id: int
    image_id: int  # the frame's images row
    video_id: int
    frame: int
    track_id: int | None
    category_id: int
    category_name: str
    bbox: BBox
    score: float | None
    origin: str  # model | human
    status: str  # predicted | accepted | corrected | rejected
    keyframe: bool  # placed by a person (False: a tracker's proposal, or a plain box)
    model_version_id: int | None = None
    created_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FrameBox:
    """What a frame shows: a stored box, or a track's interpolated box (``annotation_id`` None)."""

    frame: int
    bbox: BBox
    kind: BoxKind  # keyframe | proposal | interpolated | plain
    category_name: str
    track_id: int | None
    annotation_id: int | None
    status: str | None  # the stored box's status; None for an interpolated box
    is_label: bool  # exported as a label (core.tracks: an interpolated box when both anchors are labels)
    score: float | None = None


@dataclass(frozen=True)
class TrackLine:
    """One row of the timeline: where a track lives and where its stored boxes are."""

    track: TrackRecord
    span: tuple[int, int] | None  # frames [start, stop) with a box; None: none left
    keyframes: tuple[int, ...]  # frames a person placed a box at
    proposals: tuple[int, ...]  # frames a tracker proposed a box at, waiting for review
