"""COCO export: a dataset (``instances.json`` [+ ``images/``]) and model results.

Ids: an image or annotation imported from COCO keeps its original id; anything else gets its database
id (so a fresh project exports ids from 1) unless that is taken, then the lowest free id. The mapping is
computed over the whole project, so an image has the same id in every export and in the results file.
Output is written to a staging folder and moved into place at the end: a failure leaves no partial file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from detector_app import __version__
from detector_app.errors import StorageError
from detector_app.storage.models import Annotation, Category, Image
from detector_app.storage.repository import Repository

DATASET_FILE = "instances.json"
RESULTS_FILE = "results.json"
IMAGES_DIR = "images"
Scope = str | Sequence[int]


@dataclass(frozen=True)
class _Img:
    db_id: int
    coco_id: int
    path: Path
    width: int
    height: int
    video_path: str | None
    frame_index: int | None


def export_coco(repo: Repository, out_dir: str | Path, scope: Scope = "reviewed", copy_images: bool = False,
                ) -> Path:
    """Write a COCO dataset of ``scope`` into ``out_dir``; returns the JSON path.

    ``scope``: "reviewed" (reviewed images with accepted, corrected and human boxes: never rejected or
    unreviewed predictions), "all" (every image, every box but rejected ones) or a list of image ids
    (their reviewed boxes). With ``copy_images`` the images (video frames too) go to ``out_dir/images/``
    and ``file_name`` is relative to it; otherwise ``file_name`` is relative to the images' common folder,
    recorded in ``info.images_dir``.
    """
    out_dir = Path(out_dir)
    with repo.reading() as s:
        image_ids = _coco_ids(s, Image)
        annotation_ids = _coco_ids(s, Annotation)
        images = _images(repo, s, scope, image_ids)
        annotations = _annotations(s, scope, [i.db_id for i in images], image_ids, annotation_ids)
        categories = [{"id": c.coco_id, "name": c.name, "supercategory": c.supercategory}
                      for c in s.scalars(select(Category).order_by(Category.coco_id))]
    with _staging(out_dir) as stage:
        names = _copy_images(images, stage / IMAGES_DIR) if copy_images else None
        root = Path(IMAGES_DIR) if copy_images else _common_folder(images)
        dataset = {
            "info": _info(root),
            "licenses": [],
            "images": [_image_entry(i, names[i.db_id] if names else _relative(i.path, root)) for i in images],
            "annotations": annotations,
            "categories": categories,
        }
        _write_json(stage / DATASET_FILE, dataset)
        _publish(stage, out_dir)
    return out_dir / DATASET_FILE


def export_coco_results(repo: Repository, out_path: str | Path, image_ids: Sequence[int] | None = None,
                        model_version_id: int | None = None) -> Path:
    """Model predictions in the COCO results format (``image_id``, ``category_id``, ``bbox``, ``score``).

    Every model box with a score counts, whatever its review status: results describe what the model said.
    Image ids match those of :func:`export_coco`.
    """
    out_path = Path(out_path)
    query = (select(Annotation.image_id, Category.coco_id, Annotation.x, Annotation.y, Annotation.w,
                    Annotation.h, Annotation.score)
             .join(Category, Category.id == Annotation.category_id)
             .where(Annotation.origin == "model", Annotation.score.is_not(None)).order_by(Annotation.id))
    if model_version_id is not None:
        query = query.where(Annotation.model_version_id == model_version_id)
    wanted = set(image_ids) if image_ids is not None else None
    with repo.reading() as s:
        coco_image = _coco_ids(s, Image)
        results = [{"image_id": coco_image[r.image_id], "category_id": r.coco_id, "bbox": [r.x, r.y, r.w, r.h],
                    "score": r.score} for r in s.execute(query) if wanted is None or r.image_id in wanted]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(out_path, results)
    return out_path


# --- ids ------------------------------------------------------------------------------------------


def assign_ids(rows: Iterable[tuple[int, int | None]]) -> dict[int, int]:
    """Database id -> export id: the stored COCO id, else the database id, else the lowest free id."""
    rows = list(rows)
    out: dict[int, int] = {}
    used: set[int] = set()
    for db_id, coco_id in rows:
        if coco_id is not None and coco_id not in used:
            out[db_id] = coco_id
            used.add(coco_id)
    pending = []
    for db_id, _ in rows:
        if db_id in out:
            continue
        if db_id not in used:
            out[db_id] = db_id
            used.add(db_id)
        else:
            pending.append(db_id)
    candidate = 1
    for db_id in pending:
        while candidate in used:
            candidate += 1
        out[db_id] = candidate
        used.add(candidate)
    return out


def _coco_ids(s: Any, table: type[Image] | type[Annotation]) -> dict[int, int]:
    rows = s.connection().execute(select(table.id, table.coco_id).order_by(table.id))
    return assign_ids((db_id, coco_id) for db_id, coco_id in rows)


# --- selection --------------------------------------------------------------------------------------


def _images(repo: Repository, s: Any, scope: Scope, ids: dict[int, int]) -> list[_Img]:
    query = select(Image.id, Image.path, Image.width, Image.height, Image.video_path, Image.frame_index)
    if scope == "reviewed":
        query = query.where(Image.reviewed_at.is_not(None))
    elif isinstance(scope, str):
        if scope != "all":
            raise StorageError(f"export scope must be 'reviewed', 'all' or a list of image ids, not {scope!r}")
    else:
        missing = sorted({int(i) for i in scope} - ids.keys())
        if missing:
            raise StorageError(f"cannot export images not in the project: {', '.join(map(str, missing[:10]))}")
    rows = s.execute(query.order_by(Image.id)).all()
    if not isinstance(scope, str):  # a selection: filtered here, an IN (...) list could exceed SQLite's limit
        keep = {int(i) for i in scope}
        rows = [r for r in rows if r.id in keep]
    return [_Img(r.id, ids[r.id], repo.absolute_path(r.path), r.width, r.height,
                 str(repo.absolute_path(r.video_path)) if r.video_path else None, r.frame_index) for r in rows]


def _label_filter(scope: Scope) -> ColumnElement[bool]:
    if scope == "all":
        return Annotation.status != "rejected"
    return or_(Annotation.status.in_(("accepted", "corrected")),
               and_(Annotation.origin == "human", Annotation.status != "rejected"))


def _annotations(s: Any, scope: Scope, db_image_ids: list[int], image_ids: dict[int, int],
                 annotation_ids: dict[int, int]) -> list[dict[str, Any]]:
    query = (select(Annotation.id, Annotation.image_id, Category.coco_id, Annotation.x, Annotation.y,
                    Annotation.w, Annotation.h, Annotation.iscrowd)
             .join(Category, Category.id == Annotation.category_id)
             .where(_label_filter(scope)).order_by(Annotation.image_id, Annotation.id))
    keep = set(db_image_ids)
    # Plain tuples from the connection: ORM row handling would double the time for 100k boxes.
    return [{"id": annotation_ids[ann_id], "image_id": image_ids[image_id], "category_id": category_id,
             "bbox": [x, y, w, h], "area": w * h, "iscrowd": crowd, "segmentation": []}
            for ann_id, image_id, category_id, x, y, w, h, crowd in s.connection().execute(query)
            if image_id in keep]


# --- files ------------------------------------------------------------------------------------------


def _image_entry(image: _Img, file_name: str) -> dict[str, Any]:
    return {"id": image.coco_id, "file_name": file_name, "width": image.width, "height": image.height}


def _info(images_dir: Path) -> dict[str, Any]:
    return {"description": "exported by detector-app", "version": __version__, "year": datetime.now(UTC).year,
            "date_created": datetime.now(UTC).isoformat(timespec="seconds"), "contributor": "detector-app",
            "images_dir": images_dir.as_posix()}


def _common_folder(images: list[_Img]) -> Path:
    if not images:
        return Path(".")
    return Path(os.path.commonpath([str(i.path.parent) for i in images]))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _copy_images(images: list[_Img], folder: Path) -> dict[int, str]:
    """Copy each image (a video frame without its file is read from the video); db id -> file name."""
    folder.mkdir(parents=True)
    names: dict[int, str] = {}
    taken: set[str] = set()
    for image in images:
        exists = image.path.is_file()
        name = image.path.name if exists else f"{image.path.stem}.png"
        name = f"{image.db_id}_{name}" if name in taken else name
        if exists:
            shutil.copyfile(image.path, folder / name)
        elif image.video_path is not None and image.frame_index is not None:
            _write_video_frame(image, folder / name)
        else:
            raise StorageError(f"cannot export image {image.db_id}: {image.path} is missing")
        taken.add(name)
        names[image.db_id] = name
    return names


def _write_video_frame(image: _Img, target: Path) -> None:
    import cv2  # only exports of frames whose file is gone need video decoding

    capture = cv2.VideoCapture(image.video_path)
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, image.frame_index)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or not cv2.imwrite(str(target), frame):
        raise StorageError(f"cannot export image {image.db_id}: frame {image.frame_index} of "
                           f"{image.video_path} cannot be read")


def _write_json(path: Path, data: Any) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # dumps, not dump: only the one-shot encoder runs in C (5x faster on 100k annotations).
            f.write(json.dumps(data, separators=(",", ":"), allow_nan=False))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _staging(out_dir: Path) -> Any:
    """A temporary folder inside ``out_dir``; removed whatever happens."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    except OSError as exc:
        raise StorageError(f"cannot write to {out_dir}: {exc.strerror or exc}") from exc
    try:
        yield stage
    except OSError as exc:
        raise StorageError(f"export to {out_dir} failed, nothing was written: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish(stage: Path, out_dir: Path) -> None:
    """Move the staged images folder, then the JSON, into ``out_dir`` (renames on one file system)."""
    staged_images = stage / IMAGES_DIR
    if staged_images.is_dir():
        target = out_dir / IMAGES_DIR
        old = stage / "previous-images"
        if target.exists():
            os.replace(target, old)  # removed with the staging folder
        os.replace(staged_images, target)
    os.replace(stage / DATASET_FILE, out_dir / DATASET_FILE)
