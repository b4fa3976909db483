"""COCO dataset import: validate everything, then write everything in one transaction.

Imported boxes are human labels (status ``accepted``) and their images count as reviewed. The file's
category, image and annotation ids are kept (``coco_id`` columns) so that exporting gives them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from detector_app.core.names import printable
from detector_app.core.paths import UnsafePathError, confine
from detector_app.errors import StorageError
from detector_app.formats.coco_validate import CocoValidationError, load_coco_json, validate_coco
from detector_app.storage.categories import ensure_category_row
from detector_app.storage.db import insert_rows
from detector_app.storage.files import ImageInfo, read_image_info
from detector_app.storage.models import Annotation, Category, Image, utcnow
from detector_app.storage.repository import Repository, last_id

_CHUNK = 500  # SQLite bound-parameter limit per IN (...)


@dataclass(frozen=True)
class ImportReport:
    source: Path
    images_added: int
    images_reused: int
    annotations_added: int
    categories_added: int
    # File category id -> the project's COCO id, for categories whose id could not be kept.
    category_ids_changed: dict[int, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        text = (f"imported {self.annotations_added} boxes on {self.images_added + self.images_reused} images "
                f"({self.images_added} new) and {self.categories_added} new categories from {self.source}")
        if self.category_ids_changed:
            changes = ", ".join(f"{a}->{b}" for a, b in sorted(self.category_ids_changed.items()))
            text += f"; category ids changed to fit the project: {changes}"
        return text


def import_coco(repo: Repository, json_path: str | Path, images_dir: str | Path) -> ImportReport:
    """Import a COCO ``instances`` file whose ``file_name``s are relative to ``images_dir``.

    Raises ``CocoValidationError`` (an ``ImportValidationError``) listing the first problems; then the
    project is exactly as before.
    """
    json_path, images_dir = Path(json_path), Path(images_dir)
    if not _is_dir(images_dir):
        raise CocoValidationError(str(json_path), [f"image folder {printable(images_dir)} not found"])
    data = load_coco_json(json_path)
    problems = validate_coco(data, images_dir)
    if problems:
        raise CocoValidationError(str(json_path), problems)
    infos = _read_image_files(json_path, data["images"], images_dir)
    with repo.transaction() as s:
        return _write(repo, s, json_path, data, images_dir, infos)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL, no permission: not a folder we can use
        return False


def _read_image_files(json_path: Path, images: Sequence[Mapping[str, Any]], images_dir: Path) -> list[ImageInfo]:
    """Hash each file and check that it is a readable image of the size the JSON gives."""
    infos, problems = [], []
    for entry in images:
        try:
            info = read_image_info(confine(images_dir, entry["file_name"]))
        except (StorageError, UnsafePathError, OSError) as exc:  # the folder may have changed since validation
            problems.append(f"image id {entry['id']}: {printable(exc)}")
            continue
        sizes = {(info.width, info.height), (info.height, info.width) if info.rotated else (info.width, info.height)}
        if (entry["width"], entry["height"]) not in sizes:
            problems.append(f"image id {entry['id']} file {entry['file_name']!r} is {info.width}x{info.height}, "
                            f"not {entry['width']}x{entry['height']} as the JSON says")
        infos.append(info)
    if problems:
        raise CocoValidationError(str(json_path), problems)
    return infos


def _write(repo: Repository, s: Session, json_path: Path, data: Mapping[str, Any], images_dir: Path,
           infos: list[ImageInfo]) -> ImportReport:
    now = utcnow()
    images = data["images"]
    stored = [repo.stored_path(confine(images_dir, e["file_name"])) for e in images]
    _refuse_same_file(json_path, images, stored)
    existing = _existing_images(s, stored)
    _refuse_reimport(s, json_path, data, images, stored, existing)
    categories, added, changed = _map_categories(s, data["categories"])
    new_rows = [
        {"path": path, "content_hash": info.sha256, "width": e["width"], "height": e["height"], "origin": "file",
         "reviewed_at": now, "created_at": now, "coco_id": e["id"]}
        for e, path, info in zip(images, stored, infos, strict=True) if path not in existing
    ]
    first_new = last_id(s, Image) + 1  # the transaction holds the write lock: new ids come after this
    insert_rows(s, Image.__table__, new_rows)
    new_ids = {path: image_id for path, image_id in s.execute(select(Image.path, Image.id).where(Image.id >= first_new))}
    image_ids = {e["id"]: existing.get(path) or new_ids[path] for e, path in zip(images, stored, strict=True)}
    annotation_rows = [_annotation_row(a, image_ids, categories, now) for a in data["annotations"]]
    insert_rows(s, Annotation.__table__, annotation_rows)
    _mark_reused_images(s, [existing[p] for p in stored if p in existing], {e["id"]: e for e in images},
                        image_ids, now)
    return ImportReport(json_path, len(new_rows), len(images) - len(new_rows), len(annotation_rows), added, changed)


def _refuse_same_file(json_path: Path, images: Sequence[Mapping[str, Any]], stored: list[str]) -> None:
    seen: dict[str, int] = {}
    problems = []
    for entry, path in zip(images, stored, strict=True):
        if path in seen:
            problems.append(f"image id {entry['id']} names the same file as image id {seen[path]}: {path}")
        seen.setdefault(path, entry["id"])
    if problems:
        raise CocoValidationError(str(json_path), problems)


def _existing_images(s: Session, stored: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(stored), _CHUNK):
        query = select(Image.path, Image.id).where(Image.path.in_(stored[start:start + _CHUNK]))
        found.update({path: image_id for path, image_id in s.execute(query)})
    return found


def _refuse_reimport(s: Session, json_path: Path, data: Mapping[str, Any], images: Sequence[Mapping[str, Any]],
                     stored: list[str], existing: dict[str, int]) -> None:
    """Importing the same file twice would double every box: refuse boxes already imported on an image."""
    if not existing:
        return
    by_file_id = {e["id"]: existing[p] for e, p in zip(images, stored, strict=True) if p in existing}
    db_ids = list(by_file_id.values())
    present: set[tuple[int, int]] = set()
    for start in range(0, len(db_ids), _CHUNK):
        query = select(Annotation.image_id, Annotation.coco_id).where(
            Annotation.image_id.in_(db_ids[start:start + _CHUNK]), Annotation.coco_id.is_not(None))
        present.update((image_id, coco_id) for image_id, coco_id in s.execute(query))
    repeated = [a["id"] for a in data["annotations"]
                if a["image_id"] in by_file_id and (by_file_id[a["image_id"]], a["id"]) in present]
    if repeated:
        raise CocoValidationError(str(json_path), [f"annotation id {i} was already imported into this project"
                                                   for i in repeated])


def _map_categories(s: Session, entries: Sequence[Mapping[str, Any]]) -> tuple[dict[int, int], int, dict[int, int]]:
    """File category id -> project category row id; also the number created and the ids that changed."""
    known = set(s.scalars(select(Category.name)))
    mapping, changed, added = {}, {}, 0
    for entry in entries:
        name = entry["name"].strip()
        category = ensure_category_row(s, name, entry["id"], None, entry.get("supercategory") or "")
        added += name not in known
        mapping[entry["id"]] = category.id
        if category.coco_id != entry["id"]:
            changed[entry["id"]] = category.coco_id
    return mapping, added, changed


def _annotation_row(a: Mapping[str, Any], image_ids: dict[int, int], categories: dict[int, int],
                    now: Any) -> dict[str, Any]:
    x, y, w, h = (float(v) for v in a["bbox"])
    return {"image_id": image_ids[a["image_id"]], "category_id": categories[a["category_id"]], "x": x, "y": y,
            "w": w, "h": h, "score": None, "origin": "human", "status": "accepted",
            "iscrowd": int(a.get("iscrowd", 0)), "model_version_id": None, "created_at": now, "updated_at": now,
            "coco_id": a["id"]}


def _mark_reused_images(s: Session, db_ids: list[int], entries: dict[int, Mapping[str, Any]],
                        image_ids: dict[int, int], now: Any) -> None:
    """Images already in the project keep their row; they gain the file's id and count as reviewed
    unless model predictions on them still wait for review."""
    if not db_ids:
        return
    file_ids = {db_id: file_id for file_id, db_id in image_ids.items()}
    for db_id in db_ids:
        s.execute(update(Image).where(Image.id == db_id, Image.coco_id.is_(None))
                  .values(coco_id=entries[file_ids[db_id]]["id"]))
        pending = exists().where(Annotation.image_id == db_id, Annotation.status == "predicted")
        s.execute(update(Image).where(Image.id == db_id, Image.reviewed_at.is_(None), ~pending)
                  .values(reviewed_at=now))
