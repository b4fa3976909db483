"""A model's frames into the project as predictions to review: one rule for capture, Detect all (the window)
and ``detect --project`` (the command line, on one machine or on Ray). No Qt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from detector_app.core.detections import Detections
from detector_app.sources.base import Frame
from detector_app.storage.repository import Repository


@dataclass(frozen=True)
class Stored:
    """What storing one frame did: predictions ``added`` to image ``image_id``, or the ``kept`` boxes of an
    image that was already labelled or reviewed (then nothing is added)."""

    image_id: int
    added: int
    kept: int = 0
    already_reviewed: bool = False

    @property
    def left_alone(self) -> bool:
        return self.kept > 0 or self.already_reviewed


def store_frame(repo: Repository, frame: Frame, detections: Detections, version_id: int | None) -> Stored:
    """Put ``frame`` into the project with ``detections`` as predictions to review.

    An image (or video frame) the project already holds with boxes, or already reviewed, keeps its boxes and
    its review state: new predictions would put it back "to review", and a reviewed export would drop it."""
    if frame.kind == "image":
        image = repo.add_image(Path(frame.origin))
    else:
        image = repo.add_frame(frame.image, origin=frame.kind, video_path=frame.video_path, frame_index=frame.index)
    existing = repo.annotations_for_image(image.id)
    if existing or image.reviewed:
        return Stored(image.id, 0, len(existing), image.reviewed)
    added = repo.add_predictions(image.id, detections, model_version_id=version_id) if len(detections) else []
    return Stored(image.id, len(added))
