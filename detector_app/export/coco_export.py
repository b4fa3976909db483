"""COCO export: a dataset (``instances.json`` [+ ``images/``]) and model results.

Ids: an image or annotation imported from COCO keeps its original id; anything else gets its database
id (so a fresh project exports ids from 1) unless that is taken, then the lowest free id. The mapping is
computed over the whole project, so an image has the same id in every export and in the results file.
The output folder is handled by :mod:`detector_app.export.target` (staging, manifest, crash-safe publishing,
never touching a file the app did not write): a failure leaves no partial file.

Rows are checked before anything is written (an edited or damaged database must not break an export):

* an image's width and height are positive integers, a box's x, y are finite and its w, h finite and >= 0
  (SQLite keeps ``inf`` in any column and turns NaN into NULL);
* stored paths are confined. The database stores a path relative to the project folder for files inside it,
  else absolute (``ProjectDatabase.stored_path``); it does not record the folders images were imported from.
  So a relative path must stay inside the project folder (no ``..``, no absolute path hidden in it), an
  absolute one must be in the normalised form ``stored_path`` writes (no ``.``/``..`` components), and with
  ``copy_images`` the file copied must be a regular file that opens as an image (a video must be a regular
  file): an edited row can name neither a device, a FIFO, a folder nor a non-image file such as a key.

A refused row stops the export with a line naming the image or annotation id; nothing is written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from detector_app import __version__
from detector_app.errors import StorageError
from detector_app.export.target import export_into, file_mode
from detector_app.storage.models import Annotation, Category, Image
from detector_app.storage.repository import Repository

DATASET_FILE = "instances.json"
RESULTS_FILE = "results.json"
IMAGES_DIR = "images"
Scope = str | Sequence[int]
SHOWN_ROWS = 5


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

    def write(stage: Path) -> Path:
        try:
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
        except OSError as exc:
            raise StorageError(f"export to {out_dir} failed, nothing was written: {exc.strerror or exc}") from exc
        return stage / DATASET_FILE

    return export_into(out_dir, write, "coco")


def export_coco_results(repo: Repository, out_path: str | Path, image_ids: Sequence[int] | None = None,
                        model_version_id: int | None = None) -> Path:
    """Model predictions in the COCO results format (``image_id``, ``category_id``, ``bbox``, ``score``).

    Every model box with a score counts, whatever its review status: results describe what the model said.
    Image ids match those of :func:`export_coco`.
    """
    out_path = Path(out_path)
    query = (select(Annotation.id, Annotation.image_id, Category.coco_id, Annotation.x, Annotation.y,
                    Annotation.w, Annotation.h, Annotation.score)
             .join(Category, Category.id == Annotation.category_id)
             .where(Annotation.origin == "model", Annotation.score.is_not(None)).order_by(Annotation.id))
    if model_version_id is not None:
        query = query.where(Annotation.model_version_id == model_version_id)
    wanted = set(image_ids) if image_ids is not None else None
    with repo.reading() as s:
        coco_image = _coco_ids(s, Image)
        rows = [r for r in s.execute(query) if wanted is None or r.image_id in wanted]
    bad = [r.id for r in rows if not (_finite_box(r.x, r.y, r.w, r.h) and _finite(r.score))]
    if bad:
        _refuse("annotation", bad, "has a box or score that is not a finite number")
    results = [{"image_id": coco_image[r.image_id], "category_id": r.coco_id, "bbox": [r.x, r.y, r.w, r.h],
                "score": r.score} for r in rows]
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
    problems: dict[int, str] = {}
    for r in rows:
        problem = _row_problem(r)
        if problem:
            problems[r.id] = problem
    if problems:
        _refuse("image", list(problems), next(iter(problems.values())))
    return [_Img(r.id, ids[r.id], repo.absolute_path(r.path), r.width, r.height,
                 str(repo.absolute_path(r.video_path)) if r.video_path else None, r.frame_index) for r in rows]


def _row_problem(row: Any) -> str | None:
    for key in ("width", "height"):
        value = getattr(row, key)
        if not (type(value) is int and value > 0):  # not bool, not a float such as inf
            return f"has a {key} of {value!r}, not a positive whole number"
    for key in ("path", "video_path"):
        stored = getattr(row, key)
        if stored is None and key == "video_path":
            continue
        if not _confined(stored):
            return f"has a stored {key.replace('_', ' ')} {_show(stored)} that points outside the project's folders"
    return None


def _confined(stored: object) -> bool:
    """The text rule of the module docstring (no file system access; a symlink the user made on disk is the
    user's choice, an edited row is what this catches)."""
    if not isinstance(stored, str) or not stored or any(ord(c) < 32 or c == "\x7f" for c in stored):
        return False
    path = Path(stored)
    if ".." in path.parts or os.path.normpath(stored) != stored:
        return False
    return True  # relative without "..": inside the project folder; absolute: outside, as imported


def _show(value: object) -> str:
    text = ascii(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def _refuse(what: str, ids: list[int], reason: str) -> None:
    shown = ", ".join(map(str, ids[:SHOWN_ROWS])) + (f" and {len(ids) - SHOWN_ROWS} more" if len(ids) > SHOWN_ROWS
                                                       else "")
    raise StorageError(f"cannot export: {what} {ids[0]} {reason} ({len(ids)} {what}(s) refused: {shown}; the "
                       "database was probably edited or damaged); nothing was written")


_INF = math.inf


def _finite(value: object) -> bool:
    try:
        return -_INF < value < _INF  # type: ignore[operator]  # False for NaN, TypeError for NULL or text
    except TypeError:
        return False


def _finite_box(x: object, y: object, w: object, h: object) -> bool:
    try:
        return -_INF < x < _INF and -_INF < y < _INF and 0 <= w < _INF and 0 <= h < _INF  # type: ignore[operator]
    except TypeError:
        return False


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
    rows = [row for row in s.connection().execute(query) if row[1] in keep]
    bad = [ann_id for ann_id, _, _, x, y, w, h, _ in rows if not _finite_box(x, y, w, h)]
    if bad:
        _refuse("annotation", bad, "has a box that is not finite numbers with a width and height >= 0")
    return [{"id": annotation_ids[ann_id], "image_id": image_ids[image_id], "category_id": category_id,
             "bbox": [x, y, w, h], "area": w * h, "iscrowd": crowd, "segmentation": []}
            for ann_id, image_id, category_id, x, y, w, h, crowd in rows]


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
        _check_file(image)
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


def _check_file(image: _Img) -> None:
    """Copy only a regular file that opens as an image (the absolute-path rule of the module docstring)."""
    if os.path.lexists(image.path):
        try:
            regular = stat.S_ISREG(os.stat(image.path).st_mode)
        except OSError:
            regular = False
        if not regular or not _opens_as_image(image.path):
            _refuse("image", [image.db_id], f"has a stored path {_show(str(image.path))} that is not an image file")
    elif image.video_path is not None:
        try:
            regular = stat.S_ISREG(os.stat(image.video_path).st_mode)
        except OSError:
            regular = True  # a missing video is reported when the frame is read
        if not regular:
            _refuse("image", [image.db_id], f"has a video path {_show(image.video_path)} that is not a file")


def _opens_as_image(path: Path) -> bool:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path):  # reads the header only
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


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
        os.fchmod(fd, file_mode())  # mkstemp's 0600 would make the file private, unlike its neighbours
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # dumps, not dump: only the one-shot encoder runs in C (5x faster on 100k annotations).
            f.write(json.dumps(data, separators=(",", ":"), allow_nan=False))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
