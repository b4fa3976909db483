"""A label set into the project: everything in one transaction, or nothing.

Imported boxes are human labels (status ``accepted``) and their images count as reviewed. The ids a label
set carries (COCO ids, or the numbers a codec gave) are kept in the ``coco_id`` columns so that exporting
gives them back, and so that importing the same file twice is refused instead of doubling every box.

Splits (train/val/test, checked by ``core.labels.split_problem`` with the other label-set rules): a new image
takes the split the label set gives it (none: NULL). An image already in the project gets the file's split
only when the file names one: a file that says nothing about splits (COCO) never erases the user's choice,
and a file that does (an Ultralytics dataset) is the newer statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from detector_app.core.labels import LabelledImage, LabelSet, Origin, Status, label_set_problems
from detector_app.core.names import printable
from detector_app.errors import LabelSetError
from detector_app.storage.bulk_load import built_at_end
from detector_app.storage.categories import ensure_category_row
from detector_app.storage.db import insert_columns
from detector_app.storage.files import ImageInfo
from detector_app.storage.models import Annotation, Category, Image, utcnow

if TYPE_CHECKING:
    from detector_app.core.images import CheckedImage
    from detector_app.storage.repository import Repository

_CHUNK = 500  # SQLite bound-parameter limit per IN (...)
_WRITE_CHUNK = 1000  # images written at once while the rest are checked


@dataclass(frozen=True)
class ImportReport:
    source: Path
    images_added: int
    images_reused: int
    annotations_added: int
    categories_added: int
    # File category id -> the project's COCO id, for categories whose id could not be kept.
    category_ids_changed: dict[int, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the codec changed on the way (polygons as boxes, ...)

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        text = (f"imported {self.annotations_added} boxes on {self.images_added + self.images_reused} images "
                f"({self.images_added} new) and {self.categories_added} new categories from {self.source}")
        if self.category_ids_changed:
            changes = ", ".join(f"{a}->{b}" for a, b in sorted(self.category_ids_changed.items()))
            text += f"; category ids changed to fit the project: {changes}"
        return "; ".join((text, *self.notes))


def import_label_set(repo: Repository, labels: LabelSet, source: Path, error: type[LabelSetError] = LabelSetError,
                     checks: Iterator[CheckedImage | str] | None = None) -> ImportReport:
    """Check the labels (names, boxes) and each image file (readable, the size the labels say), and write them
    in one transaction: worker processes check the files (``core.image_batch``) while this one writes the
    images already checked. A problem found on the way rolls everything back, so nothing is written.

    ``checks``: the files' checks already started by the caller (``streamed_checks`` of every image's path,
    in order), so that they run while the caller built ``labels``."""
    if problems := label_set_problems(labels):
        raise error(str(source), problems)
    if missing := [f"{_label(image)}: no image file" for image in labels.images if image.path is None]:
        raise error(str(source), missing)
    # Pillow: only commands that add image files load it.
    from detector_app.core.image_batch import streamed_checks

    started = contextlib.nullcontext(checks) if checks is not None else streamed_checks(
        [_path(image) for image in labels.images])
    with started as in_order, repo.transaction() as s:
        return _write(repo, s, labels, in_order, source, error)


def _file_info(image: LabelledImage, checked: CheckedImage | str, problems: list[str]) -> ImageInfo | None:
    """The stored facts of a checked file, or None with the problem added (unusable, or not the size the
    labels give)."""
    if isinstance(checked, str):
        problems.append(f"{_label(image)}: {printable(checked)}")
        return None
    assert checked.sha256 is not None  # asked for
    info = ImageInfo(checked.width, checked.height, checked.sha256, checked.rotated)
    sizes = {(info.width, info.height), (info.height, info.width) if info.rotated else (info.width, info.height)}
    if (image.width, image.height) not in sizes:
        problems.append(f"{_label(image)} file {image.file_name!r} is {info.width}x{info.height}, "
                        f"not {image.width}x{image.height} as the labels say")
        return None
    return info


def _write(repo: Repository, s: Session, labels: LabelSet, checks: Iterator[CheckedImage | str], source: Path,
           error: type[LabelSetError]) -> ImportReport:
    """Write ``labels`` in ``_WRITE_CHUNK`` images at a time as ``checks`` (each image's file check, in order)
    delivers them; ``error`` is raised for a problem with a file or against the project."""
    now = utcnow()
    images = labels.images
    stored = [repo.stored_path(_path(i)) for i in images]
    _refuse_same_file(source, images, stored, error)
    existing = _existing_images(s, stored)
    _refuse_reimport(s, source, images, stored, existing, error)
    categories, added, changed = _map_categories(s, labels)
    problems: list[str] = []
    images_added = boxes_added = 0
    # A new project: nobody can be working in it, so the boxes' indexes and keys may be built once at the end.
    new_project = contextlib.nullcontext() if last_id(s, Image) else built_at_end(
        s, Annotation.__table__, ("image_id", "category_id"))
    with new_project:
        for start in range(0, len(images), _WRITE_CHUNK):
            part, paths = images[start:start + _WRITE_CHUNK], stored[start:start + _WRITE_CHUNK]
            # zip: part first, so that no check is skipped
            infos = [_file_info(image, checked, problems) for image, checked in zip(part, checks, strict=False)]
            if problems:  # every file is still checked, so that the message lists them all; nothing more is written
                continue
            new = [(image, path, info) for image, path, info in zip(part, paths, infos, strict=True)
                   if path not in existing and info]
            first_new = last_id(s, Image) + 1  # the transaction holds the write lock: new ids come after this
            insert_columns(s, Image.__table__, _image_columns(new), same={
                "origin": "file", "reviewed_at": now, "reviewed_by": repo.annotator, "created_at": now})
            new_ids = {path: image_id for path, image_id in s.execute(select(Image.path, Image.id)
                                                                      .where(Image.id >= first_new))}
            added_boxes = _annotation_columns(part, [existing.get(path) or new_ids[path] for path in paths], categories)
            insert_columns(s, Annotation.__table__, added_boxes, same={
                "origin": Origin.HUMAN.value, "status": Status.ACCEPTED.value, "created_at": now, "updated_at": now,
                "updated_by": repo.annotator})
            images_added, boxes_added = images_added + len(new), boxes_added + len(added_boxes["image_id"])
        if problems:
            raise error(str(source), problems)
    reused = [(existing[path], image) for image, path in zip(images, stored, strict=True) if path in existing]
    _mark_reused_images(s, reused, now, repo.annotator)
    _set_reused_splits(s, reused)
    return ImportReport(source, images_added, len(images) - images_added, boxes_added, added, changed, labels.notes)


def last_id(s: Session, table: type[Image] | type[Annotation]) -> int:
    return int(s.scalar(select(func.coalesce(func.max(table.id), 0))) or 0)


def _path(image: LabelledImage) -> Path:
    if image.path is None:
        raise ValueError(f"image {image.file_name!r} of a label set to import has no file path")
    return image.path


def _label(image: LabelledImage) -> str:
    return f"image id {image.id}" if image.id is not None else f"image {image.file_name!r}"


def _refuse_same_file(source: Path, images: Sequence[LabelledImage], stored: list[str],
                      error: type[LabelSetError]) -> None:
    seen: dict[str, LabelledImage] = {}
    problems = []
    for image, path in zip(images, stored, strict=True):
        if path in seen:
            problems.append(f"{_label(image)} names the same file as {_label(seen[path])}: {path}")
        seen.setdefault(path, image)
    if problems:
        raise error(str(source), problems)


def _existing_images(s: Session, stored: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(stored), _CHUNK):
        query = select(Image.path, Image.id).where(Image.path.in_(stored[start:start + _CHUNK]))
        found.update({path: image_id for path, image_id in s.execute(query)})
    return found


def _refuse_reimport(s: Session, source: Path, images: Sequence[LabelledImage], stored: list[str],
                     existing: dict[str, int], error: type[LabelSetError]) -> None:
    """Importing the same file twice would double every box: refuse boxes already imported on an image."""
    if not existing:
        return
    on_known = [(existing[p], image) for image, p in zip(images, stored, strict=True) if p in existing]
    db_ids = [db_id for db_id, _ in on_known]
    present: set[tuple[int, int]] = set()
    for start in range(0, len(db_ids), _CHUNK):
        query = select(Annotation.image_id, Annotation.coco_id).where(
            Annotation.image_id.in_(db_ids[start:start + _CHUNK]), Annotation.coco_id.is_not(None))
        present.update((image_id, coco_id) for image_id, coco_id in s.execute(query))
    repeated = [box.id for db_id, image in on_known for box in image.boxes
                if box.id is not None and (db_id, box.id) in present]
    if repeated:
        raise error(str(source), [f"annotation id {i} was already imported into this project" for i in repeated])


def _map_categories(s: Session, labels: LabelSet) -> tuple[dict[str, int], int, dict[int, int]]:
    """Category name -> project category row id; also the number created and the ids that changed."""
    known = set(s.scalars(select(Category.name)))
    mapping: dict[str, int] = {}
    changed: dict[int, int] = {}
    added = 0
    for category in labels.categories:
        row = ensure_category_row(s, category.name, category.id, None, category.supercategory)
        added += category.name not in known
        known.add(category.name)
        mapping[category.name] = row.id
        if category.id is not None and row.coco_id != category.id:
            changed[category.id] = row.coco_id
    return mapping, added, changed


def _image_columns(new: Sequence[tuple[LabelledImage, str, ImageInfo]]) -> dict[str, list[object]]:
    return {"path": [path for _, path, _ in new], "content_hash": [info.sha256 for _, _, info in new],
            "width": [image.width for image, _, _ in new], "height": [image.height for image, _, _ in new],
            "coco_id": [image.id for image, _, _ in new],
            "split": [None if image.split is None else str(image.split) for image, _, _ in new]}


def _annotation_columns(images: Sequence[LabelledImage], image_ids: Sequence[int],
                        categories: dict[str, int]) -> dict[str, list[object]]:
    """The columns of every box but those all boxes share (human labels, accepted, made by the person
    importing them: revision 1); columns rather than a dict per box, as there may be 1,000,000."""
    pairs = [(image_id, box) for image, image_id in zip(images, image_ids, strict=True) for box in image.boxes]
    return {"image_id": [image_id for image_id, _ in pairs],
            "category_id": [categories[box.category] for _, box in pairs],
            "x": [float(box.bbox[0]) for _, box in pairs], "y": [float(box.bbox[1]) for _, box in pairs],
            "w": [float(box.bbox[2]) for _, box in pairs], "h": [float(box.bbox[3]) for _, box in pairs],
            "iscrowd": [int(box.iscrowd) for _, box in pairs], "coco_id": [box.id for _, box in pairs]}


def _set_reused_splits(s: Session, reused: list[tuple[int, LabelledImage]]) -> None:
    """Images already in the project take the split the file gives (see the module docstring)."""
    by_split: dict[str, list[int]] = {}
    for db_id, image in reused:
        if image.split is not None:
            by_split.setdefault(str(image.split), []).append(db_id)
    for split, ids in by_split.items():
        for start in range(0, len(ids), _CHUNK):
            s.execute(update(Image).where(Image.id.in_(ids[start:start + _CHUNK])).values(split=split))


def _mark_reused_images(s: Session, reused: list[tuple[int, LabelledImage]], now: object, annotator: str) -> None:
    """Images already in the project keep their row; they gain the file's id and count as reviewed
    unless model predictions on them still wait for review."""
    for db_id, image in reused:
        if image.id is not None:
            s.execute(update(Image).where(Image.id == db_id, Image.coco_id.is_(None)).values(coco_id=image.id))
        pending = exists().where(Annotation.image_id == db_id, Annotation.status == Status.PREDICTED.value)
        s.execute(update(Image).where(Image.id == db_id, Image.reviewed_at.is_(None), ~pending)
                  .values(reviewed_at=now, reviewed_by=annotator))
