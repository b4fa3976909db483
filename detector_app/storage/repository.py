"""The one API the GUI, CLI, training and exporters use to read and change a project.

Every method opens its own short session, so a ``Repository`` can be shared by threads. Each user edit
is one transaction committed before the method returns; a batch of predictions is one transaction.
Methods return frozen records (``records.py``), never ORM objects.

Review rule: an image becomes reviewed when a person acts on it and no ``predicted`` box is left (or by
``mark_reviewed``); new predictions, or an undo that brings a prediction back, make it unreviewed again.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from detector_app.core.detections import Detections
from detector_app.errors import StorageError
from detector_app.storage.categories import BACKGROUND, category_record, ensure_category_row
from detector_app.storage.db import insert_rows
from detector_app.storage.files import encode_frame, frame_name, read_image_info, write_file_durably
from detector_app.storage.model_store import ModelStore
from detector_app.storage.models import (
    IMAGE_ORIGINS,
    STATUSES,
    Annotation,
    Category,
    Image,
    utcnow,
)
from detector_app.storage.records import (
    AnnotationRecord,
    BBox,
    CategoryRecord,
    ImageRecord,
)

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
REVIEW_STATES = ("all", "unreviewed", "reviewed")
_EXIF_ORIENTATION = 0x0112

_IMAGE_COLUMNS = (Image.id, Image.path, Image.width, Image.height, Image.origin, Image.content_hash,
                  Image.video_path, Image.frame_index, Image.reviewed_at, Image.created_at, Image.coco_id)
_ANNOTATION_COLUMNS = (Annotation.id, Annotation.image_id, Annotation.category_id, Category.name,
                       Annotation.x, Annotation.y, Annotation.w, Annotation.h, Annotation.score,
                       Annotation.origin, Annotation.status, Annotation.iscrowd, Annotation.model_version_id,
                       Annotation.created_at, Annotation.updated_at, Annotation.coco_id)
_CHUNK = 500  # ids per IN (...): SQLite limits bound parameters per statement


def _annotation_select() -> Select[Any]:
    return select(*_ANNOTATION_COLUMNS).join(Category, Category.id == Annotation.category_id)


# Built once: the GUI calls these for every image it shows.
_IMAGE_BY_ID = select(*_IMAGE_COLUMNS).where(Image.id == bindparam("image_id"))
_IMAGE_BY_PATH = select(*_IMAGE_COLUMNS).where(Image.path == bindparam("path"))
_ANNOTATION_BY_ID = _annotation_select().where(Annotation.id == bindparam("annotation_id"))
_ANNOTATIONS_OF_IMAGE = _annotation_select().where(Annotation.image_id == bindparam("image_id")).order_by(Annotation.id)
_VISIBLE_ANNOTATIONS_OF_IMAGE = _ANNOTATIONS_OF_IMAGE.where(Annotation.status != "rejected")


class Repository(ModelStore):
    """Images, annotations and categories; model versions and runs come from ``ModelStore``."""

    # --- images -----------------------------------------------------------------------------------

    def add_image(self, path: str | Path, *, origin: str = "file", video_path: str | Path | None = None,
                  frame_index: int | None = None) -> ImageRecord:
        """Register an image file (the existing row when the path is already known)."""
        existing = self.find_image(path)
        if existing is not None:
            return existing
        row = self._image_row(Path(path), origin, video_path, frame_index)
        return self._insert_images([row])[0]

    def add_images_from_folder(self, folder: str | Path, recursive: bool = True) -> list[ImageRecord]:
        """Register every readable image in ``folder`` in one transaction; unreadable files are skipped."""
        root = Path(folder)
        if not root.is_dir():
            raise StorageError(f"{root} is not a folder")
        files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir())
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        known = self._images_by_path([self.stored_path(p) for p in files])
        rows: list[dict[str, Any]] = []
        for file in files:
            if self.stored_path(file) in known:
                continue
            try:
                rows.append(self._image_row(file, "file", None, None))
            except StorageError as exc:
                log.warning("skipped %s", exc)
        added = self._insert_images(rows) if rows else []
        by_path = {**known, **{r.stored_path: r for r in added}}
        return [by_path[s] for s in (self.stored_path(p) for p in files) if s in by_path]

    def add_frame(self, image_bgr: np.ndarray, origin: str = "video", video_path: str | Path | None = None,
                  frame_index: int | None = None, *, ext: str = ".jpg") -> ImageRecord:
        """Write a captured frame into ``frames/`` and register it.

        A video frame already stored (same video and index) is not written twice.
        """
        self.check_writable()
        if origin not in ("video", "webcam"):
            raise StorageError(f"a frame's origin is 'video' or 'webcam', not {origin!r}")
        video = self.stored_path(video_path) if video_path is not None else None
        if video is not None and frame_index is not None:
            existing = self._find_frame(video, frame_index)
            if existing is not None:
                return existing
        data = encode_frame(image_bgr, ext)
        target = self.frames_dir / frame_name(origin, video, frame_index, ext)
        write_file_durably(target, data)
        height, width = image_bgr.shape[:2]
        row = {"path": self.stored_path(target), "content_hash": hashlib.sha256(data).hexdigest(),
               "width": int(width), "height": int(height), "origin": origin, "video_path": video,
               "frame_index": frame_index}
        try:
            return self._insert_images([row])[0]
        except StorageError:
            target.unlink(missing_ok=True)  # no row points at it: do not leave an orphan file
            raise

    def find_image(self, path: str | Path) -> ImageRecord | None:
        """The image registered for the file ``path``, if any."""
        with self._connect() as conn:
            row = conn.execute(_IMAGE_BY_PATH, {"path": self.stored_path(path)}).first()
        return self._image_record(row) if row else None

    def get_image(self, image_id: int) -> ImageRecord:
        with self._connect() as conn:
            row = conn.execute(_IMAGE_BY_ID, {"image_id": image_id}).first()
        if row is None:
            raise StorageError(f"image {image_id} is not in the project")
        return self._image_record(row)

    def get_images(self, image_ids: Sequence[int]) -> list[ImageRecord]:
        """Records for ``image_ids`` in the same order (unknown ids are left out)."""
        found: dict[int, ImageRecord] = {}
        with self._connect() as conn:
            for start in range(0, len(image_ids), _CHUNK):  # stay under SQLite's bound-parameter limit
                chunk = list(image_ids[start:start + _CHUNK])
                for row in conn.execute(select(*_IMAGE_COLUMNS).where(Image.id.in_(chunk))):
                    found[row.id] = self._image_record(row)
        return [found[i] for i in image_ids if i in found]

    def list_images(self, state: str = "all", category: str | int | None = None, offset: int = 0,
                    limit: int = 100, *, after_id: int | None = None) -> list[ImageRecord]:
        """One page of images by id. For long lists pass the last id seen as ``after_id`` (keyset
        paging: constant time per page) instead of a growing ``offset``."""
        query = self._image_query(select(*_IMAGE_COLUMNS), state, category)
        if query is None:
            return []
        if after_id is not None:
            query = query.where(Image.id > after_id)
        query = query.order_by(Image.id).offset(offset).limit(limit)
        with self._connect() as conn:
            return [self._image_record(r) for r in conn.execute(query)]

    def image_ids(self, state: str = "all", category: str | int | None = None) -> list[int]:
        query = self._image_query(select(Image.id), state, category)
        if query is None:
            return []
        with self._connect() as conn:
            return list(conn.scalars(query.order_by(Image.id)))

    def count_images(self, state: str = "all", category: str | int | None = None) -> int:
        query = self._image_query(select(func.count(Image.id)), state, category)
        if query is None:
            return 0
        with self._connect() as conn:
            return int(conn.scalar(query) or 0)

    def mark_reviewed(self, image_id: int, reviewed: bool = True) -> ImageRecord:
        with self.transaction() as s:
            image = self._image(s, image_id)
            if reviewed and image.reviewed_at is None:
                image.reviewed_at = utcnow()
            elif not reviewed:
                image.reviewed_at = None
        return self.get_image(image_id)

    # --- annotations ------------------------------------------------------------------------------

    def add_predictions(self, image_id: int, detections: Detections,
                        model_version_id: int | None = None) -> list[AnnotationRecord]:
        """Store a model's boxes for one image as ``predicted`` (one transaction)."""
        with self.transaction() as s:
            first_new = last_id(s, Annotation) + 1  # we hold the write lock: new ids come after this
            self._insert_predictions(s, [(image_id, detections)], model_version_id)
            rows = s.execute(_ANNOTATIONS_OF_IMAGE.where(Annotation.id >= first_new), {"image_id": image_id})
            return [_annotation_record(r) for r in rows]

    def add_predictions_many(self, items: Iterable[tuple[int, Detections]],
                             model_version_id: int | None = None) -> int:
        """Predictions for many images (a video or folder run) in one transaction; returns the box count."""
        with self.transaction() as s:
            return self._insert_predictions(s, list(items), model_version_id)

    def add_annotation(self, image_id: int, category: str | int, bbox: Sequence[float], origin: str = "human",
                       status: str = "accepted", score: float | None = None, *, iscrowd: int = 0,
                       model_version_id: int | None = None) -> AnnotationRecord:
        box = _check_bbox(bbox)
        _check_choice("status", status, STATUSES)
        _check_choice("origin", origin, ("model", "human"))
        with self.transaction() as s:
            self._image(s, image_id)
            now = utcnow()
            ann = Annotation(image_id=image_id, category_id=self._category_id(s, category), x=box[0], y=box[1],
                             w=box[2], h=box[3], score=score, origin=origin, status=status, iscrowd=int(iscrowd),
                             model_version_id=model_version_id, created_at=now, updated_at=now)
            s.add(ann)
            s.flush()
            self._after_edit(s, image_id, by_person=origin == "human", status=status)
            return _snapshot(s, ann.id)

    def update_bbox(self, annotation_id: int, bbox: Sequence[float]) -> AnnotationRecord:
        """Move or resize a box; a model's box that a person moves becomes ``corrected``."""
        box = _check_bbox(bbox)
        return self._edit(annotation_id, lambda ann, _s: _set_box(ann, box))

    def set_status(self, annotation_id: int, status: str) -> AnnotationRecord:
        """Accept or reject (or set any status explicitly)."""
        _check_choice("status", status, STATUSES)
        return self._edit(annotation_id, lambda ann, _s: setattr(ann, "status", status), keep_status=True)

    def set_category(self, annotation_id: int, category: str | int) -> AnnotationRecord:
        """Relabel; a relabelled prediction becomes ``corrected``."""
        def relabel(ann: Annotation, s: Session) -> None:
            ann.category_id = self._category_id(s, category)
        return self._edit(annotation_id, relabel)

    def delete_annotation(self, annotation_id: int) -> AnnotationRecord:
        """Delete a box; returns the snapshot that ``restore_annotation`` brings back."""
        with self.transaction() as s:
            snapshot = _snapshot(s, annotation_id)  # read under the write lock: exactly what is deleted
            s.execute(delete(Annotation).where(Annotation.id == annotation_id))
            self._after_edit(s, snapshot.image_id, by_person=True, status=None)
        return snapshot

    def restore_annotation(self, snapshot: AnnotationRecord) -> AnnotationRecord:
        """Write a snapshot back under its own id (insert or overwrite every mutable field): undo/redo."""
        box = _check_bbox(snapshot.bbox)
        with self.transaction() as s:
            self._image(s, snapshot.image_id)
            if s.get(Category, snapshot.category_id) is not None:
                category_id = snapshot.category_id
            else:
                category_id = self._category_id(s, snapshot.category_name)
            ann = s.get(Annotation, snapshot.id) or Annotation(id=snapshot.id)
            old_image = ann.image_id
            _restore_fields(ann, snapshot, box, category_id)
            s.add(ann)
            s.flush()
            self._after_edit(s, snapshot.image_id, by_person=snapshot.status != "predicted",
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

    def count_annotations(self, status: str | None = None) -> int:
        query = select(func.count(Annotation.id))
        if status is not None:
            query = query.where(Annotation.status == status)
        with self.reading() as s:
            return int(s.scalar(query) or 0)

    # --- categories -------------------------------------------------------------------------------

    def categories(self) -> list[CategoryRecord]:
        with self.reading() as s:
            return [category_record(c) for c in s.scalars(select(Category).order_by(Category.coco_id))]

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

    def _image_record(self, row: Any) -> ImageRecord:
        return ImageRecord(id=row.id, path=self.absolute_path(row.path), stored_path=row.path, width=row.width,
                           height=row.height, origin=row.origin, content_hash=row.content_hash,
                           video_path=str(self.absolute_path(row.video_path)) if row.video_path else None,
                           frame_index=row.frame_index, reviewed_at=row.reviewed_at,
                           created_at=row.created_at, coco_id=row.coco_id)

    def _image_row(self, path: Path, origin: str, video_path: str | Path | None,
                   frame_index: int | None) -> dict[str, Any]:
        _check_choice("origin", origin, IMAGE_ORIGINS)
        info = read_image_info(path)
        return {"path": self.stored_path(path), "content_hash": info.sha256, "width": info.width,
                "height": info.height,
                "origin": origin, "video_path": self.stored_path(video_path) if video_path else None,
                "frame_index": frame_index}

    def _insert_images(self, rows: list[dict[str, Any]]) -> list[ImageRecord]:
        """Insert in one transaction; records in the order of ``rows``."""
        now = utcnow()
        with self.transaction() as s:
            first_new = last_id(s, Image) + 1
            insert_rows(s, Image.__table__, [{**r, "created_at": now} for r in rows])
            by_path = {r.path: self._image_record(r)
                       for r in s.execute(select(*_IMAGE_COLUMNS).where(Image.id >= first_new))}
        return [by_path[r["path"]] for r in rows]

    def _images_by_path(self, stored: list[str]) -> dict[str, ImageRecord]:
        found: dict[str, ImageRecord] = {}
        with self._connect() as conn:
            for start in range(0, len(stored), _CHUNK):
                query = select(*_IMAGE_COLUMNS).where(Image.path.in_(stored[start:start + _CHUNK]))
                found.update({r.path: self._image_record(r) for r in conn.execute(query)})
        return found

    def _find_frame(self, video: str, frame_index: int) -> ImageRecord | None:
        query = select(*_IMAGE_COLUMNS).where(Image.video_path == video, Image.frame_index == frame_index)
        with self.reading() as s:
            row = s.execute(query.order_by(Image.id)).first()
        return self._image_record(row) if row else None

    def _image_query(self, query: Select[Any], state: str, category: str | int | None) -> Select[Any] | None:
        """``query`` filtered by review state and class; None when the class does not exist."""
        _check_choice("state", state, REVIEW_STATES)
        if state == "reviewed":
            query = query.where(Image.reviewed_at.is_not(None))
        elif state == "unreviewed":
            query = query.where(Image.reviewed_at.is_(None))
        if category is not None:
            category_id = self._find_category_id(category)
            if category_id is None:
                return None
            query = query.where(_has_class(category_id))
        return query

    def _find_category_id(self, category: str | int) -> int | None:
        column = Category.id if isinstance(category, int) else Category.name
        with self.reading() as s:
            return s.scalar(select(Category.id).where(column == category))

    def _category_id(self, s: Session, category: str | int) -> int:
        if isinstance(category, str):
            return ensure_category_row(s, category, None, None, "").id
        if s.get(Category, category) is None:
            raise StorageError(f"category {category} is not in the project")
        return int(category)

    @staticmethod
    def _image(s: Session, image_id: int) -> Image:
        image = s.get(Image, image_id)
        if image is None:
            raise StorageError(f"image {image_id} is not in the project")
        return image

    def _edit(self, annotation_id: int, change: Callable[[Annotation, Session], None],
              keep_status: bool = False) -> AnnotationRecord:
        """Apply ``change`` to one annotation in its own transaction and refresh the image's review state."""
        with self.transaction() as s:
            ann = s.get(Annotation, annotation_id)
            if ann is None:
                raise StorageError(f"annotation {annotation_id} is not in the project")
            change(ann, s)
            if not keep_status and ann.origin == "model" and ann.status in ("predicted", "accepted"):
                ann.status = "corrected"
            ann.updated_at = utcnow()
            s.flush()
            self._after_edit(s, ann.image_id, by_person=True, status=ann.status)
            return _snapshot(s, annotation_id)

    @staticmethod
    def _after_edit(s: Session, image_id: int, by_person: bool, status: str | None) -> None:
        """Apply the review rule after an edit inside the edit's transaction."""
        if status == "predicted":
            s.execute(update(Image).where(Image.id == image_id).values(reviewed_at=None))
            return
        if not by_person:
            return
        left = s.scalar(select(exists().where(Annotation.image_id == image_id, Annotation.status == "predicted")))
        if not left:
            s.execute(update(Image).where(Image.id == image_id, Image.reviewed_at.is_(None))
                      .values(reviewed_at=utcnow()))

    def _insert_predictions(self, s: Session, items: list[tuple[int, Detections]],
                            model_version_id: int | None) -> int:
        """Insert predictions for several images inside ``s``; their images become unreviewed."""
        image_ids = sorted({image_id for image_id, _ in items})
        found: set[int] = set()
        for start in range(0, len(image_ids), _CHUNK):
            found.update(s.scalars(select(Image.id).where(Image.id.in_(image_ids[start:start + _CHUNK]))))
        if missing := [i for i in image_ids if i not in found]:
            raise StorageError(f"image {missing[0]} is not in the project")
        categories: dict[str, int] = {}  # one lookup per class for the whole batch
        rows = [row for image_id, dets in items
                for row in _prediction_rows(s, image_id, dets, model_version_id, categories)]
        insert_rows(s, Annotation.__table__, rows)
        touched = sorted({row["image_id"] for row in rows})
        for start in range(0, len(touched), _CHUNK):
            s.execute(update(Image).where(Image.id.in_(touched[start:start + _CHUNK])).values(reviewed_at=None))
        return len(rows)


# --- helpers ------------------------------------------------------------------------------------------


def last_id(s: Session, table: type[Image] | type[Annotation]) -> int:
    return int(s.scalar(select(func.coalesce(func.max(table.id), 0))) or 0)


def _check_bbox(bbox: Sequence[float]) -> BBox:
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"a box is four numbers x, y, w, h, got {bbox!r}") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise StorageError(f"a box needs finite coordinates and positive width and height, got {bbox!r}")
    return (x, y, w, h)


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise StorageError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


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


def _has_class(category_id: int) -> ColumnElement[bool]:
    """The image has a non-rejected box of the class."""
    return exists().where(Annotation.image_id == Image.id, Annotation.category_id == category_id,
                          Annotation.status != "rejected")


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
        updated_at=row.updated_at, coco_id=row.coco_id)


def _prediction_rows(s: Session, image_id: int, dets: Detections, model_version_id: int | None,
                     categories: dict[str, int]) -> list[dict[str, Any]]:
    """Rows for the real (non-background, finite, non-empty) boxes; categories created as needed."""
    now = utcnow()
    xywh = dets.xywh.astype(np.float64)
    rows = []
    for (x, y, w, h), score, label in zip(xywh.tolist(), dets.scores.tolist(), dets.labels.tolist(), strict=True):
        name = dets.label_name(int(label))
        if name == BACKGROUND or not (math.isfinite(x + y + w + h) and w > 0 and h > 0):
            continue
        if name not in categories:
            # torchvision COCO models emit the COCO category id as label: keep it as the class's COCO id.
            categories[name] = ensure_category_row(s, name, int(label), None, "").id
        rows.append({"image_id": image_id, "category_id": categories[name], "x": x, "y": y, "w": w, "h": h,
                     "score": float(score), "origin": "model", "status": "predicted", "iscrowd": 0,
                     "model_version_id": model_version_id, "created_at": now, "updated_at": now})
    return rows
