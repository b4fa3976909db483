"""The one API the GUI, CLI, training and exporters use to read and change a project.

Every method opens its own short session, so a ``Repository`` can be shared by threads. Each user edit
is one transaction committed before the method returns; a batch of predictions is one transaction.
Methods return frozen records (``records.py``), never ORM objects.

Review rule: an image becomes reviewed when a person acts on it and no ``predicted`` box is left (or by
``mark_reviewed``); new predictions, or an undo that brings a prediction back, make it unreviewed again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from detector_app.core.labels import BACKGROUND, ORIGINS, STATUSES, Origin, Status
from detector_app.errors import StorageError
from detector_app.storage.categories import (
    CATEGORY_ORDER,
    CategoryStore,
    category_record,
    ensure_category_row,
)
from detector_app.storage.db import insert_rows
from detector_app.storage.image_store import CHUNK, check_choice
from detector_app.storage.models import (
    Annotation,
    Category,
    Image,
    utcnow,
)
from detector_app.storage.provenance import (
    PROPOSAL_COLUMNS,
    ReviewTimeStore,
    proposal_fields,
    proposal_values,
    restore_proposal,
)
from detector_app.storage.records import (
    AnnotationRecord,
    BBox,
    CategoryRecord,
)
from detector_app.storage.team import TeamStore, guard_annotation, lock_image, restore_target

if TYPE_CHECKING:  # numpy arrays inside; commands that store no predictions (stats, export) start without numpy
    from detector_app.core.detections import Detections

log = logging.getLogger(__name__)

_ANNOTATION_COLUMNS = (Annotation.id, Annotation.image_id, Annotation.category_id, Category.name,
                       Annotation.x, Annotation.y, Annotation.w, Annotation.h, Annotation.score,
                       Annotation.origin, Annotation.status, Annotation.iscrowd, Annotation.model_version_id,
                       Annotation.created_at, Annotation.updated_at, Annotation.coco_id, *PROPOSAL_COLUMNS,
                       Annotation.revision, Annotation.updated_by)


def _annotation_select() -> Select[Any]:
    return select(*_ANNOTATION_COLUMNS).join(Category, Category.id == Annotation.category_id)


# Built once: the GUI calls these for every image it shows.
_ANNOTATION_BY_ID = _annotation_select().where(Annotation.id == bindparam("annotation_id"))
_ANNOTATIONS_OF_IMAGE = _annotation_select().where(Annotation.image_id == bindparam("image_id")).order_by(Annotation.id)
_VISIBLE_ANNOTATIONS_OF_IMAGE = _ANNOTATIONS_OF_IMAGE.where(Annotation.status != Status.REJECTED)


class Repository(CategoryStore, ReviewTimeStore, TeamStore):
    """Annotations; the class list comes from ``CategoryStore``, images from ``ImageStore``, model versions and
    runs from ``ModelStore``, sessions and stored paths from ``ProjectDatabase`` (each the base of the next);
    review times from ``ReviewTimeStore`` and the annotator, claims and optimistic edits from ``TeamStore`` (both
    on ``ImageStore``). Box edits take ``revision``: the one the caller loaded; a box changed since is refused."""

    # --- annotations -----------------------------------------------------------------------------

    def add_predictions(self, image_id: int, detections: Detections,
                        model_version_id: int | None = None) -> list[AnnotationRecord]:
        """Store a model's boxes for one image as ``predicted`` (one transaction)."""
        with self.transaction() as s:
            _, ids = self._insert_predictions(s, [(image_id, detections)], model_version_id, returning=True)
            rows = s.execute(_ANNOTATIONS_OF_IMAGE.where(Annotation.id.in_(ids)), {"image_id": image_id})
            return [_annotation_record(r) for r in rows]

    def add_predictions_many(self, items: Iterable[tuple[int, Detections]],
                             model_version_id: int | None = None) -> int:
        """Predictions for many images (a video or folder run) in one transaction; returns the box count."""
        with self.transaction() as s:
            return self._insert_predictions(s, list(items), model_version_id)[0]

    def add_annotation(self, image_id: int, category: str | int, bbox: Sequence[float], origin: str = Origin.HUMAN,
                       status: str = Status.ACCEPTED, score: float | None = None, *, iscrowd: int = 0,
                       model_version_id: int | None = None) -> AnnotationRecord:
        box = _check_bbox(bbox)
        check_choice("status", status, STATUSES)
        check_choice("origin", origin, ORIGINS)
        with self.transaction() as s:
            category_id = self._category_id(s, category)  # classes before images: the lock order (team.py)
            lock_image(s, image_id)
            now = utcnow()
            ann = Annotation(image_id=image_id, category_id=category_id, x=box[0], y=box[1],
                             w=box[2], h=box[3], score=score, origin=origin, status=status, iscrowd=int(iscrowd),
                             model_version_id=model_version_id, created_at=now, updated_at=now,
                             **proposal_values(origin, box, category_id, score),
                             updated_by=self.annotator if origin == Origin.HUMAN else None)
            s.add(ann)
            s.flush()
            self._after_edit(s, image_id, by_person=origin == Origin.HUMAN, status=status)
            return _snapshot(s, ann.id)

    def update_bbox(self, annotation_id: int, bbox: Sequence[float], revision: int | None = None) -> AnnotationRecord:
        """Move or resize a box; a model's box that a person moves becomes ``corrected``."""
        box = _check_bbox(bbox)
        return self._edit(annotation_id, lambda ann, _s: _set_box(ann, box), revision=revision)

    def set_status(self, annotation_id: int, status: str, revision: int | None = None) -> AnnotationRecord:
        """Accept or reject (or set any status explicitly)."""
        check_choice("status", status, STATUSES)
        return self._edit(annotation_id, lambda ann, _s: setattr(ann, "status", status), keep_status=True,
                          revision=revision)

    def set_category(self, annotation_id: int, category: str | int, revision: int | None = None) -> AnnotationRecord:
        """Relabel; a relabelled prediction becomes ``corrected``."""
        return self._edit(annotation_id, lambda _ann, _s: None, revision=revision, category=category)

    def delete_annotation(self, annotation_id: int, revision: int | None = None) -> AnnotationRecord:
        """Delete a box; returns the snapshot that ``restore_annotation`` brings back."""
        with self.transaction() as s:
            guard_annotation(s, annotation_id, revision, self.annotator)
            snapshot = _snapshot(s, annotation_id)  # read under the write lock: exactly what is deleted
            s.execute(delete(Annotation).where(Annotation.id == annotation_id))
            self._after_edit(s, snapshot.image_id, by_person=True, status=None)
        return snapshot

    def restore_annotation(self, snapshot: AnnotationRecord, revision: int | None = None) -> AnnotationRecord:
        """Write a snapshot back under its own id (insert or overwrite every mutable field): undo/redo.
        ``revision``: the box's revision the undo stack expects (None: the box is gone, or no check)."""
        box = _check_bbox(snapshot.bbox)
        with self.transaction() as s:
            if s.get(Category, snapshot.category_id) is not None:
                category_id = snapshot.category_id
            else:  # classes before images: the lock order (team.py)
                category_id = self._category_id(s, snapshot.category_name)
            lock_image(s, snapshot.image_id)
            ann = restore_target(s, snapshot.id, snapshot.revision, revision, self.annotator)
            old_image = ann.image_id
            _restore_fields(ann, snapshot, box, category_id)
            s.add(ann)
            s.flush()
            self._after_edit(s, snapshot.image_id, by_person=snapshot.status != Status.PREDICTED,
                             status=snapshot.status)
            if old_image is not None and old_image != snapshot.image_id:
                self._after_edit(s, old_image, by_person=True, status=None)
            return _snapshot(s, snapshot.id)

    def get_annotation(self, annotation_id: int) -> AnnotationRecord:
        with self._connect() as conn:
            row = conn.execute(_ANNOTATION_BY_ID, {"annotation_id": annotation_id}).first()
        if row is None:
            raise StorageError(f"annotation {annotation_id} is not in the project")
        return _annotation_record(row)

    def annotations_for_image(self, image_id: int, include_rejected: bool = True) -> list[AnnotationRecord]:
        query = _ANNOTATIONS_OF_IMAGE if include_rejected else _VISIBLE_ANNOTATIONS_OF_IMAGE
        with self._connect() as conn:
            return [_annotation_record(r) for r in conn.execute(query, {"image_id": image_id})]

    def box_counts(self, image_ids: Sequence[int]) -> dict[int, int]:
        """Boxes per image, rejected ones aside (images without any are absent): the image list's marks."""
        counts: dict[int, int] = {}
        with self.reading() as s:
            for start in range(0, len(image_ids), CHUNK):
                query = (select(Annotation.image_id, func.count(Annotation.id))
                         .where(Annotation.image_id.in_(image_ids[start:start + CHUNK]),
                                Annotation.status != Status.REJECTED).group_by(Annotation.image_id))
                counts.update((int(i), int(n)) for i, n in s.execute(query))
        return counts

    def annotations_for_images(self, image_ids: Sequence[int], origin: str | None = None,
                               scored: bool = False) -> dict[int, list[AnnotationRecord]]:
        """The boxes of many images at once (a query per ``CHUNK`` ids, not one per image): image id -> its
        boxes by id; images without any are absent. ``origin`` and ``scored`` (a score is stored) narrow them."""
        found: dict[int, list[AnnotationRecord]] = {}
        ids = list(image_ids)
        with self._connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = _annotation_select().where(Annotation.image_id.in_(ids[start:start + CHUNK]))
                if origin is not None:
                    query = query.where(Annotation.origin == origin)
                if scored:
                    query = query.where(Annotation.score.is_not(None))
                for row in conn.execute(query.order_by(Annotation.image_id, Annotation.id)):
                    found.setdefault(row.image_id, []).append(_annotation_record(row))
        return found

    def count_annotations(self, status: str | None = None) -> int:
        query = select(func.count(Annotation.id))
        if status is not None:
            query = query.where(Annotation.status == status)
        with self.reading() as s:
            return int(s.scalar(query) or 0)

    # --- categories -------------------------------------------------------------------------------

    def categories(self) -> list[CategoryRecord]:
        with self.reading() as s:
            return [category_record(c) for c in s.scalars(select(Category).order_by(*CATEGORY_ORDER))]

    def ensure_category(self, name: str, *, coco_id: int | None = None, color: str | None = None,
                        supercategory: str = "") -> CategoryRecord:
        """The category called ``name``, created when missing (``coco_id`` is used when still free)."""
        with self.transaction() as s:
            category = ensure_category_row(s, name, coco_id, color, supercategory)
            return category_record(category)

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Annotation counts per class name and status (every category and status present, zeros too)."""
        counts = {c.name: dict.fromkeys(STATUSES, 0) for c in self.categories()}
        query = (select(Category.name, Annotation.status, func.count(Annotation.id))
                 .join(Annotation, Annotation.category_id == Category.id)
                 .group_by(Category.name, Annotation.status))
        with self.reading() as s:
            for name, status, n in s.execute(query):
                counts.setdefault(name, dict.fromkeys(STATUSES, 0))[status] = int(n)
        return counts

    # --- internals --------------------------------------------------------------------------------

    def _category_id(self, s: Session, category: str | int) -> int:
        if isinstance(category, str):
            return ensure_category_row(s, category, None, None, "").id
        if s.get(Category, category) is None:
            raise StorageError(f"category {category} is not in the project")
        return int(category)

    def _edit(self, annotation_id: int, change: Callable[[Annotation, Session], None],
              keep_status: bool = False, revision: int | None = None,
              category: str | int | None = None) -> AnnotationRecord:
        """Apply ``change`` to one annotation in its own transaction and refresh the image's review state;
        ``category``: the box's new class (found or created before the image is locked: the lock order)."""
        with self.transaction() as s:
            category_id = None if category is None else self._category_id(s, category)
            ann = guard_annotation(s, annotation_id, revision, self.annotator)
            change(ann, s)
            if category_id is not None:
                ann.category_id = category_id
            if not keep_status and ann.origin == Origin.MODEL and ann.status in (Status.PREDICTED, Status.ACCEPTED):
                ann.status = Status.CORRECTED
            ann.updated_at = utcnow()
            s.flush()
            self._after_edit(s, ann.image_id, by_person=True, status=ann.status)
            return _snapshot(s, annotation_id)

    def _after_edit(self, s: Session, image_id: int, by_person: bool, status: str | None) -> None:
        """Apply the review rule after an edit inside the edit's transaction (and record who reviewed)."""
        if status == Status.PREDICTED:
            s.execute(update(Image).where(Image.id == image_id).values(reviewed_at=None, reviewed_by=None))
            return
        if not by_person:
            return
        left = s.scalar(select(exists().where(Annotation.image_id == image_id, Annotation.status == Status.PREDICTED)))
        if not left:
            s.execute(update(Image).where(Image.id == image_id, Image.reviewed_at.is_(None))
                      .values(reviewed_at=utcnow(), reviewed_by=self.annotator))

    def _insert_predictions(self, s: Session, items: list[tuple[int, Detections]], model_version_id: int | None,
                            returning: bool = False) -> tuple[int, list[int]]:
        """Insert predictions for several images inside ``s``; their images become unreviewed. Classes are
        created first, then the images locked (the lock order, team.py). Returns the number of boxes and, with
        ``returning`` (a few rows: INSERT ... RETURNING), their ids; the bulk path (COPY) has none."""
        image_ids = sorted({image_id for image_id, _ in items})
        categories = _prediction_categories(s, [dets for _, dets in items])
        found: set[int] = set()
        for start in range(0, len(image_ids), CHUNK):
            found.update(s.scalars(select(Image.id).where(Image.id.in_(image_ids[start:start + CHUNK]))
                                   .order_by(Image.id).with_for_update(key_share=True)))
        if missing := [i for i in image_ids if i not in found]:
            raise StorageError(f"image {missing[0]} is not in the project")
        rows = [row for image_id, dets in items
                for row in _prediction_rows(image_id, dets, model_version_id, categories)]
        ids: list[int] = []
        if returning and rows:
            ids = list(s.scalars(insert(Annotation).returning(Annotation.id), rows))
        else:
            insert_rows(s, Annotation.__table__, rows)
        touched = sorted({row["image_id"] for row in rows})
        for start in range(0, len(touched), CHUNK):
            s.execute(update(Image).where(Image.id.in_(touched[start:start + CHUNK])).values(reviewed_at=None))
        return len(rows), ids


# --- helpers ------------------------------------------------------------------------------------------


def _check_bbox(bbox: Sequence[float]) -> BBox:
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"a box is four numbers x, y, w, h, got {bbox!r}") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise StorageError(f"a box needs finite coordinates and positive width and height, got {bbox!r}")
    return (x, y, w, h)


def _set_box(ann: Annotation, box: BBox) -> None:
    ann.x, ann.y, ann.w, ann.h = box


def _restore_fields(ann: Annotation, snap: AnnotationRecord, box: BBox, category_id: int) -> None:
    now = utcnow()
    ann.image_id = snap.image_id
    ann.category_id = category_id
    ann.x, ann.y, ann.w, ann.h = box
    ann.score = snap.score
    ann.origin = snap.origin
    ann.status = snap.status
    ann.iscrowd = snap.iscrowd
    ann.model_version_id = snap.model_version_id
    ann.created_at = snap.created_at or now
    ann.updated_at = snap.updated_at or now
    ann.coco_id = snap.coco_id
    restore_proposal(ann, snap, category_id)


def _snapshot(s: Session, annotation_id: int) -> AnnotationRecord:
    row = s.execute(_ANNOTATION_BY_ID, {"annotation_id": annotation_id}).first()
    if row is None:
        raise StorageError(f"annotation {annotation_id} is not in the project")
    return _annotation_record(row)


def _annotation_record(row: Any) -> AnnotationRecord:
    return AnnotationRecord(
        id=row.id, image_id=row.image_id, category_id=row.category_id, category_name=row.name,
        bbox=(row.x, row.y, row.w, row.h), score=row.score, origin=row.origin, status=row.status,
        iscrowd=row.iscrowd, model_version_id=row.model_version_id, created_at=row.created_at,
        updated_at=row.updated_at, coco_id=row.coco_id, **proposal_fields(row),
        revision=row.revision, updated_by=row.updated_by)


def _prediction_categories(s: Session, found: Sequence[Detections]) -> dict[str, int]:
    """Class name -> category id for the class of every box that will be stored (``_real_boxes``), classes
    created as needed, one lookup per class for the whole batch. torchvision's COCO models emit the COCO
    category id as the label: it is kept as the class's COCO id."""
    labels: dict[str, int] = {}
    for dets in found:
        for name, label, _box, _score in _real_boxes(dets):
            labels.setdefault(name, label)
    return {name: ensure_category_row(s, name, label, None, "").id for name, label in sorted(labels.items())}


def _real_boxes(dets: Detections) -> Iterator[tuple[str, int, BBox, float]]:
    """(class name, label, xywh, score) of the real boxes: not background, finite, not empty."""
    xywh = dets.xywh.astype("float64")
    for (x, y, w, h), score, label in zip(xywh.tolist(), dets.scores.tolist(), dets.labels.tolist(), strict=True):
        name = dets.label_name(int(label))
        if name != BACKGROUND and math.isfinite(x + y + w + h) and w > 0 and h > 0:
            yield name, int(label), (x, y, w, h), float(score)


def _prediction_rows(image_id: int, dets: Detections, model_version_id: int | None,
                     categories: dict[str, int]) -> list[dict[str, Any]]:
    """Rows for the real boxes; ``categories`` holds their classes (``_prediction_categories``)."""
    now = utcnow()
    return [{"image_id": image_id, "category_id": categories[name], "x": box[0], "y": box[1], "w": box[2],
             "h": box[3], "score": score, "origin": Origin.MODEL.value, "status": Status.PREDICTED.value,
             "iscrowd": 0, "model_version_id": model_version_id, "created_at": now, "updated_at": now,
             **proposal_values(Origin.MODEL, box, categories[name], score)}
            for name, _label, box, score in _real_boxes(dets)]
