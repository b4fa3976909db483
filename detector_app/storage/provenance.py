"""Provenance in the database (schema 0004): the proposal kept beside every model box, and review times.

What a person did to a proposal is decided by ``core.provenance.correction_action`` (the one rule); this module
only stores and reads back what that rule needs, and the active seconds a person spent on each image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from detector_app.core.labels import Origin
from detector_app.errors import StorageError
from detector_app.storage.image_store import ImageStore
from detector_app.storage.models import Annotation, ModelVersion, ReviewTime
from detector_app.storage.records import AnnotationRecord, ReviewTimeRecord

# Read with every annotation row (repository._ANNOTATION_COLUMNS).
PROPOSAL_COLUMNS = (Annotation.proposal_x, Annotation.proposal_y, Annotation.proposal_w, Annotation.proposal_h,
                    Annotation.proposal_category_id, Annotation.proposal_score)


def proposal_values(origin: str, box: Sequence[float], category_id: int, score: float | None) -> dict[str, Any]:
    """The ``proposal_*`` columns of a box as it is inserted: a model's box is its own proposal; a person's has
    none (drawn boxes, and imported label files, which are human labels)."""
    if origin != Origin.MODEL:
        return {}
    x, y, w, h = box
    return {"proposal_x": x, "proposal_y": y, "proposal_w": w, "proposal_h": h,
            "proposal_category_id": category_id, "proposal_score": score}


def proposal_fields(row: Any) -> dict[str, Any]:
    """``AnnotationRecord`` keyword arguments for the proposal of a row read with ``PROPOSAL_COLUMNS``."""
    bbox = None if row.proposal_x is None else (row.proposal_x, row.proposal_y, row.proposal_w, row.proposal_h)
    return {"proposal_bbox": bbox, "proposal_category_id": row.proposal_category_id,
            "proposal_score": row.proposal_score}


def restore_proposal(ann: Annotation, snap: AnnotationRecord, category_id: int) -> None:
    """Undo/redo write the proposal back unchanged. A snapshot whose class was gone and came back under a new id
    (restored by name) keeps a proposal of that class pointing at the new id."""
    box: Sequence[float | None] = snap.proposal_bbox or (None, None, None, None)
    ann.proposal_x, ann.proposal_y, ann.proposal_w, ann.proposal_h = box
    same = snap.proposal_category_id is not None and snap.proposal_category_id == snap.category_id
    ann.proposal_category_id = category_id if same else snap.proposal_category_id
    ann.proposal_score = snap.proposal_score


class ReviewTimeStore(ImageStore):
    """Active seconds a person spent on an image, open to done (``review/review_clock.py`` measures them)."""

    def add_review_time(self, image_id: int, model_version_id: int | None, seconds: float, started_at: datetime,
                        finished_at: datetime, annotator: str | None = None) -> ReviewTimeRecord:
        """Store one review of an image; ``model_version_id`` is the version whose proposals were on it when the
        review began (None: there were none)."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise StorageError(f"review seconds must be a finite number of at least 0, got {seconds!r}")
        if finished_at < started_at:
            raise StorageError(f"a review cannot finish ({finished_at}) before it started ({started_at})")
        with self.transaction() as s:
            self._image(s, image_id)
            if model_version_id is not None and s.get(ModelVersion, model_version_id) is None:
                raise StorageError(f"model version {model_version_id} is not in the project")
            row = ReviewTime(image_id=image_id, model_version_id=model_version_id, annotator=annotator,
                             started_at=started_at, finished_at=finished_at, seconds=float(seconds))
            s.add(row)
            s.flush()
            return _review_time_record(row)

    def review_times(self, image_id: int | None = None) -> list[ReviewTimeRecord]:
        """Every stored review time (of one image), oldest first."""
        query = select(ReviewTime).order_by(ReviewTime.id)
        if image_id is not None:
            query = query.where(ReviewTime.image_id == image_id)
        with self.reading() as s:
            return [_review_time_record(r) for r in s.scalars(query)]


def _review_time_record(r: ReviewTime) -> ReviewTimeRecord:
    return ReviewTimeRecord(id=r.id, image_id=r.image_id, model_version_id=r.model_version_id, annotator=r.annotator,
                            started_at=r.started_at, finished_at=r.finished_at, seconds=r.seconds)


__all__ = ["PROPOSAL_COLUMNS", "ReviewTimeStore", "proposal_fields", "proposal_values", "restore_proposal"]
