"""Plain, immutable copies of database rows.

The repository returns these instead of live ORM objects so that they can cross threads (GUI, workers)
and outlive the session that read them. ``AnnotationRecord`` doubles as the undo snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from detector_app.core.provenance import Correction, correction_action

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: Path  # absolute path of the image file
    stored_path: str  # as stored: relative to the project folder when inside it
    width: int
    height: int
    origin: str  # file | video | webcam
    content_hash: str | None = None
    video_path: str | None = None  # absolute path of the video a frame came from
    frame_index: int | None = None
    reviewed_at: datetime | None = None
    created_at: datetime | None = None
    coco_id: int | None = None
    split: str | None = None  # train | val | test, None when the user chose none

    @property
    def reviewed(self) -> bool:
        return self.reviewed_at is not None


@dataclass(frozen=True)
class CategoryRecord:
    id: int
    name: str
    coco_id: int
    color: str
    supercategory: str = ""


@dataclass(frozen=True)
class AnnotationRecord:
    """One box. ``bbox`` is COCO ``(x, y, w, h)`` in image pixels."""

    id: int
    image_id: int
    category_id: int
    category_name: str
    bbox: BBox
    score: float | None
    origin: str  # model | human
    status: str  # predicted | accepted | corrected | rejected
    iscrowd: int = 0
    model_version_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    coco_id: int | None = None
    # The model's proposal as it was (schema 0004); None for drawn boxes and boxes corrected before it was kept.
    proposal_bbox: BBox | None = None
    proposal_category_id: int | None = None
    proposal_score: float | None = None
    # Bumped by every change: an edit made from this copy is refused once the box is past it (storage/team.py).
    # Bookkeeping, not content: an undo gives the box back (equal record) at a newer revision.
    revision: int = field(default=1, compare=False)
    updated_by: str | None = field(default=None, compare=False)  # who made the latest change

    @property
    def correction(self) -> Correction:
        """What a person did to this box (``core.provenance``, the one rule)."""
        return correction_action(self.origin, self.status, self.bbox, self.category_id, self.proposal_bbox,
                                 self.proposal_category_id)


@dataclass(frozen=True)
class ReviewTimeRecord:
    """Active seconds one person spent on one image, open to done, idle gaps left out."""

    id: int
    image_id: int
    model_version_id: int | None  # the version whose proposals were on the image when the review began
    annotator: str | None
    started_at: datetime
    finished_at: datetime
    seconds: float


@dataclass(frozen=True)
class ModelVersionRecord:
    id: int
    name: str
    preset: str
    class_names: tuple[str, ...]
    weights_path: Path | None
    parent_id: int | None
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    is_active: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class TrainingRunRecord:
    id: int
    settings: dict[str, Any]
    status: str
    log: str
    metrics: dict[str, Any]
    model_version_id: int | None
    created_at: datetime | None = None
    finished_at: datetime | None = None
