"""The rows the correction-cost report reads, in bulk: one query per table, on SQLite and PostgreSQL alike.

``box_rows``: every box of every reviewed image that holds at least one model box (what the model proposed there
and what became of it, proposal columns of schema 0004 included). ``review_time_rows``: every row of
``review_times``. What the rows mean is decided elsewhere (``core.provenance``, ``training.correction_cost``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select

from detector_app.core.labels import Origin
from detector_app.storage.models import Annotation, Image, ReviewTime
from detector_app.storage.sessions import ProjectDatabase

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class BoxRow:
    image_id: int
    origin: str
    status: str
    bbox: BBox
    category_id: int
    model_version_id: int | None
    proposal_bbox: BBox | None  # None when no proposal was kept (drawn, or corrected before schema 0004)
    proposal_category_id: int | None


@dataclass(frozen=True)
class ReviewTimeRow:
    image_id: int
    model_version_id: int | None
    seconds: float


def box_rows(db: ProjectDatabase) -> list[BoxRow]:
    """The boxes of the reviewed images that a model proposed boxes on, by image then id (one query)."""
    a = Annotation
    model_box = exists().where(Annotation.image_id == Image.id, Annotation.origin == Origin.MODEL.value)
    reviewed = select(Image.id).where(Image.reviewed_at.is_not(None), model_box)
    query = (select(a.image_id, a.origin, a.status, a.x, a.y, a.w, a.h, a.category_id, a.model_version_id,
                    a.proposal_x, a.proposal_y, a.proposal_w, a.proposal_h, a.proposal_category_id)
             .where(a.image_id.in_(reviewed)).order_by(a.image_id, a.id))
    with db.reading() as s:
        return [_box_row(r) for r in s.execute(query)]


def review_time_rows(db: ProjectDatabase) -> list[ReviewTimeRow]:
    """Every recorded review time (one query)."""
    query = select(ReviewTime.image_id, ReviewTime.model_version_id, ReviewTime.seconds).order_by(ReviewTime.id)
    with db.reading() as s:
        return [ReviewTimeRow(int(r.image_id), r.model_version_id, float(r.seconds)) for r in s.execute(query)]


def _box_row(r: Any) -> BoxRow:
    proposal = (r.proposal_x, r.proposal_y, r.proposal_w, r.proposal_h)
    kept = None if any(v is None for v in proposal) else (float(r.proposal_x), float(r.proposal_y),
                                                           float(r.proposal_w), float(r.proposal_h))
    return BoxRow(int(r.image_id), str(r.origin), str(r.status), (float(r.x), float(r.y), float(r.w), float(r.h)),
                  int(r.category_id), r.model_version_id, kept, r.proposal_category_id)
