"""The images of a project: registering files and captured frames, finding and listing them by review state.

``Repository`` builds on this (annotations and categories); see its module for the review rule.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from detector_app.core.labels import IMAGE_SUFFIXES, SPLITS, ReviewState, Status, split_problem
from detector_app.errors import StorageError
from detector_app.storage.db import insert_rows
from detector_app.storage.files import encode_frame, frame_name, read_image_info, write_file_durably
from detector_app.storage.model_store import ModelStore
from detector_app.storage.models import IMAGE_ORIGINS, Annotation, Category, Image, utcnow
from detector_app.storage.records import ImageRecord

if TYPE_CHECKING:  # the frame type only: stats and export start without numpy
    import numpy as np

log = logging.getLogger(__name__)

REVIEW_STATES: tuple[str, ...] = tuple(r.value for r in ReviewState)
CHUNK = 500  # ids per IN (...): SQLite limits bound parameters per statement

IMAGE_COLUMNS = (Image.id, Image.path, Image.width, Image.height, Image.origin, Image.content_hash,
                 Image.video_path, Image.frame_index, Image.reviewed_at, Image.created_at, Image.coco_id,
                 Image.split)
# Built once: the GUI calls these for every image it shows.
_IMAGE_BY_ID = select(*IMAGE_COLUMNS).where(Image.id == bindparam("image_id"))
_IMAGE_BY_PATH = select(*IMAGE_COLUMNS).where(Image.path == bindparam("path"))


class ImageStore(ModelStore):
    """Images of the project; model versions and runs come from ``ModelStore``."""

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
            for start in range(0, len(image_ids), CHUNK):  # stay under SQLite's bound-parameter limit
                chunk = list(image_ids[start:start + CHUNK])
                for row in conn.execute(select(*IMAGE_COLUMNS).where(Image.id.in_(chunk))):
                    found[row.id] = self._image_record(row)
        return [found[i] for i in image_ids if i in found]

    def list_images(self, state: str = "all", category: str | int | None = None, offset: int = 0,
                    limit: int = 100, *, after_id: int | None = None) -> list[ImageRecord]:
        """One page of images by id. For long lists pass the last id seen as ``after_id`` (keyset
        paging: constant time per page) instead of a growing ``offset``."""
        query = self._image_query(select(*IMAGE_COLUMNS), state, category)
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
                image.reviewed_by = self.annotator  # type: ignore[attr-defined]  (TeamStore's: a Repository is one)
            elif not reviewed:
                image.reviewed_at, image.reviewed_by = None, None
        return self.get_image(image_id)

    # --- splits -----------------------------------------------------------------------------------

    def set_split(self, image_ids: Sequence[int], split: str | None) -> int:
        """Put the images ``image_ids`` in ``split`` (train, val, test; None: no split), all in one
        transaction; an unknown id or split is refused with nothing changed. Returns the number of images."""
        if problem := split_problem(split):
            raise StorageError(f"cannot set the split: {problem}")
        ids = sorted({int(i) for i in image_ids})
        with self.transaction() as s:
            found: set[int] = set()
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                found.update(s.scalars(select(Image.id).where(Image.id.in_(chunk))))
                s.execute(update(Image).where(Image.id.in_(chunk)).values(split=None if split is None else str(split)))
            if missing := [i for i in ids if i not in found]:
                raise StorageError(f"image {missing[0]} is not in the project; no split was changed")
        return len(ids)

    def split_counts(self) -> dict[str | None, int]:
        """Images per split, every split present (zeros too); key None: images in no split."""
        counts: dict[str | None, int] = {**dict.fromkeys(SPLITS, 0), None: 0}
        with self._connect() as conn:
            for split, n in conn.execute(select(Image.split, func.count(Image.id)).group_by(Image.split)):
                counts[split] = int(n)  # a stored value outside SPLITS (an edited row) is shown as it is
        return counts

    # --- internals --------------------------------------------------------------------------------

    def _image_record(self, row: Any) -> ImageRecord:
        return ImageRecord(id=row.id, path=self.absolute_path(row.path), stored_path=row.path, width=row.width,
                           height=row.height, origin=row.origin, content_hash=row.content_hash,
                           video_path=str(self.absolute_path(row.video_path)) if row.video_path else None,
                           frame_index=row.frame_index, reviewed_at=row.reviewed_at,
                           created_at=row.created_at, coco_id=row.coco_id, split=row.split)

    def _image_row(self, path: Path, origin: str, video_path: str | Path | None,
                   frame_index: int | None) -> dict[str, Any]:
        check_choice("origin", origin, IMAGE_ORIGINS)
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
                       for r in s.execute(select(*IMAGE_COLUMNS).where(Image.id >= first_new))}
        return [by_path[r["path"]] for r in rows]

    def _images_by_path(self, stored: list[str]) -> dict[str, ImageRecord]:
        found: dict[str, ImageRecord] = {}
        with self._connect() as conn:
            for start in range(0, len(stored), CHUNK):
                query = select(*IMAGE_COLUMNS).where(Image.path.in_(stored[start:start + CHUNK]))
                found.update({r.path: self._image_record(r) for r in conn.execute(query)})
        return found

    def _find_frame(self, video: str, frame_index: int) -> ImageRecord | None:
        query = select(*IMAGE_COLUMNS).where(Image.video_path == video, Image.frame_index == frame_index)
        with self.reading() as s:
            row = s.execute(query.order_by(Image.id)).first()
        return self._image_record(row) if row else None

    def _image_query(self, query: Select[Any], state: str, category: str | int | None) -> Select[Any] | None:
        """``query`` filtered by review state and class; None when the class does not exist."""
        check_choice("state", state, REVIEW_STATES)
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

    @staticmethod
    def _image(s: Session, image_id: int) -> Image:
        image = s.get(Image, image_id)
        if image is None:
            raise StorageError(f"image {image_id} is not in the project")
        return image



def last_id(s: Session, table: type[Image] | type[Annotation]) -> int:
    return int(s.scalar(select(func.coalesce(func.max(table.id), 0))) or 0)


def check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise StorageError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def _has_class(category_id: int) -> ColumnElement[bool]:
    """The image has a non-rejected box of the class."""
    return exists().where(Annotation.image_id == Image.id, Annotation.category_id == category_id,
                          Annotation.status != Status.REJECTED)
