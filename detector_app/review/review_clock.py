"""How long a person spent reviewing an image: open to done, idle gaps over a minute left out. No Qt.

The clock is fed events: ``show`` (an image comes on screen), ``activity`` (an edit, a mouse press or move, a
wheel turn or a key on the canvas), ``leave`` (the image goes off screen without being done) and ``done`` (the image
became reviewed). Active time is the sum of the gaps between consecutive events of a visit, where a gap longer
than ``IDLE_LIMIT_S`` counts as **0**: the person was away (a coffee, another window), and nothing says when within
the gap they stopped looking. Capping it at a minute instead would add a minute per break and make a slow, distracted
sitting look like work. So a gap of 59 s counts 59 s and one of 61 s counts nothing: say to keep reviewing without
pause the person only needs to touch the canvas (moving the mouse over it is enough) once a minute.

Time spent on an image in visits that did not end in ``done`` is carried over to the visit that does, within the
session: opening an image, going to another and coming back adds both visits up. It lives in memory only: after a
restart (or another project) the carried time is gone and the next done visit counts from its own start. A record
is yielded only on the transition to reviewed; an image already reviewed when shown yields nothing unless it turns
unreviewed (an undo) and is done again, and then the record holds the time since it was last done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from detector_app.core.labels import Origin
from detector_app.core.provenance import proposing_version
from detector_app.storage.records import AnnotationRecord

IDLE_LIMIT_S = 60.0  # a gap between two events longer than this is idle and counts as nothing


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReviewTiming:
    """One finished review of an image, ready for ``Repository.add_review_time``."""

    image_id: int
    model_version_id: int | None
    seconds: float
    started_at: datetime
    finished_at: datetime


@dataclass
class _Carried:
    """An image's review so far: since when, the version its proposals came from, the active seconds counted."""

    started_at: datetime
    model_version_id: int | None
    seconds: float = 0.0


class ReviewClock:
    """Active review seconds per image (see the module docstring). ``now`` is injectable for tests."""

    def __init__(self, now: Callable[[], datetime] = utc_now, idle_limit_s: float = IDLE_LIMIT_S) -> None:
        self.now = now
        self.idle_limit_s = idle_limit_s
        self.image_id: int | None = None  # the image on screen
        self._last: datetime | None = None  # the last event of the visit
        self._reviews: dict[int, _Carried] = {}  # images with a review under way (on screen or carried)

    def show(self, image_id: int, model_version_id: int | None) -> None:
        """``image_id`` comes on screen; ``model_version_id`` is kept only when its review begins here."""
        if image_id == self.image_id:
            self.activity()
            return
        self.leave()
        now = self.now()
        self.image_id, self._last = image_id, now
        self._reviews.setdefault(image_id, _Carried(now, model_version_id))

    def activity(self) -> None:
        """The person did something on the image on screen: the gap since the last event counts (unless idle)."""
        if self.image_id is None or self._last is None:
            return
        now = self.now()
        gap = (now - self._last).total_seconds()
        if 0 < gap <= self.idle_limit_s:
            self._reviews[self.image_id].seconds += gap
        self._last = now

    def leave(self) -> None:
        """The image goes off screen not done: its time so far is carried to its next visit."""
        self.activity()
        self.image_id, self._last = None, None

    def done(self, next_version_id: int | None = None) -> ReviewTiming | None:
        """The image on screen became reviewed: its whole review (carried visits included), or None when no
        image is shown. Counting starts again at once, for the version ``next_version_id``, should it be undone."""
        if self.image_id is None:
            return None
        self.activity()
        review = self._reviews.pop(self.image_id)
        finished = self._last or self.now()
        self._reviews[self.image_id] = _Carried(finished, next_version_id)
        return ReviewTiming(self.image_id, review.model_version_id, review.seconds, review.started_at, finished)

    def carried_seconds(self, image_id: int) -> float:
        """Active seconds counted so far for an image whose review is not done."""
        review = self._reviews.get(image_id)
        return review.seconds if review is not None else 0.0


def proposals_version(annotations: Iterable[AnnotationRecord]) -> int | None:
    """The model version whose proposals are on an image: the one that proposed most of its model boxes, the
    newest on a tie; boxes of a model outside the project's versions count as ``None``, and so does an image
    without model boxes. The same attribution as the correction-cost report (``training.correction_cost``)."""
    return proposing_version(a.model_version_id for a in annotations if a.origin == Origin.MODEL)
