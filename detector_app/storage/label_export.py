"""The project's labels as a :class:`LabelSet`: what an export writes and what a format plugin is given.

Scopes: "reviewed" (reviewed images with the boxes that count as labels: never rejected or unreviewed
predictions), "all" (every image, every box but rejected ones) or a list of image ids (their label boxes).

Ids: an image or annotation imported from COCO keeps its original id; anything else gets its database id (so
a fresh project exports ids from 1) unless that is taken, then the lowest free id. The mapping is computed
over the whole project, so an image has the same id in every export and in the results file.

Rows are checked before a label set is handed out (an edited or damaged database must not break an export):
an image's width and height are positive integers and its split one of ``SPLITS`` or NULL, a box's x, y are
finite and its w, h finite and >= 0 (SQLite keeps ``inf`` in any column and turns NaN into NULL); a stored
path is confined: relative paths stay
inside the project folder (no ``..``), absolute ones are in the normalised form ``stored_path`` writes. A
refused row raises one line naming its id; nothing is written. Each image carries its stored ``content_hash``
("" when the row has none): copying the images (``formats.images.copy_images``) copies only a file whose
sha256 is that hash, so an edited row cannot export a file the project never stored.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from math import isfinite
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from detector_app.core.labels import (
    Box,
    Category,
    LabelledImage,
    LabelSet,
    Origin,
    Split,
    Status,
    counts_as_label,
    split_problem,
)
from detector_app.errors import StorageError
from detector_app.storage.models import Annotation, Image
from detector_app.storage.models import Category as CategoryRow

if TYPE_CHECKING:
    from detector_app.storage.repository import Repository

Scope = str | Sequence[int]
SHOWN_ROWS = 5
_INF = math.inf
# Per box on export: a dict lookup instead of an Enum(...) call (100k boxes).
_STATUS = {s.value: s for s in Status}
_ORIGIN = {o.value: o for o in Origin}
_SPLIT = {s.value: s for s in Split}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def read_label_set(repo: Repository, scope: Scope = "reviewed") -> LabelSet:
    """The images and boxes of ``scope`` (see the module docstring), ids assigned for export."""
    with repo.reading() as s:
        image_ids = export_ids(s, Image)
        annotation_ids = export_ids(s, Annotation)
        rows = _image_rows(s, scope, image_ids)
        categories = tuple(Category(c.name, c.coco_id, c.supercategory)
                           for c in s.scalars(select(CategoryRow).order_by(CategoryRow.coco_id)))
        names = {c.id: c.name for c in s.scalars(select(CategoryRow))}
        boxes = _boxes(s, scope, {r.id for r in rows}, annotation_ids, names)
    # Named relative to the deepest folder holding them all (as LabelSet.relative_to_common_folder does), with
    # string operations: the stored paths are normalised (checked above), and Path objects per image cost more
    # than the rest of the export. os.path.join gives an absolute stored path as it is, like absolute_path().
    root = str(repo.root)
    full = [os.path.join(root, r.path) for r in rows]
    folder = os.path.commonpath({os.path.dirname(f) for f in full}) if full else "."  # each folder once
    start = len(os.path.join(folder, ""))
    images = tuple(
        LabelledImage(f[start:].replace(os.sep, "/"), r.width, r.height, tuple(boxes.get(r.id, ())), Path(f),
                      image_ids[r.id], repo.absolute_path(r.video_path) if r.video_path else None, r.frame_index,
                      r.reviewed_at is not None, r.content_hash or "",  # "": no stored hash, refused when copied
                      _SPLIT[r.split] if r.split is not None else None)
        for r, f in zip(rows, full, strict=True))
    return LabelSet(categories, images, Path(folder))


def read_predictions(repo: Repository, image_ids: Sequence[int] | None = None,
                     model_version_id: int | None = None) -> LabelSet:
    """Every model box with a score, whatever its review status (results describe what the model said);
    image ids as in :func:`read_label_set`."""
    query = (select(Annotation.id, Annotation.image_id, Annotation.category_id, Annotation.x, Annotation.y,
                    Annotation.w, Annotation.h, Annotation.score)
             .where(Annotation.origin == Origin.MODEL, Annotation.score.is_not(None)).order_by(Annotation.id))
    if model_version_id is not None:
        query = query.where(Annotation.model_version_id == model_version_id)
    wanted = set(image_ids) if image_ids is not None else None
    with repo.reading() as s:
        export_image = export_ids(s, Image)
        rows = [r for r in s.execute(query) if wanted is None or r.image_id in wanted]
        categories = {c.id: c for c in s.scalars(select(CategoryRow))}
    bad = [r.id for r in rows if not (_finite_box(r.x, r.y, r.w, r.h) and _finite(r.score))]
    if bad:
        _refuse("annotation", bad, "has a box or score that is not a finite number")
    by_image: dict[int, list[Box]] = {}
    for r in rows:
        box = Box(categories[r.category_id].name, (r.x, r.y, r.w, r.h), 0, r.score, Status.PREDICTED, Origin.MODEL)
        by_image.setdefault(r.image_id, []).append(box)
    images = tuple(LabelledImage("", 0, 0, tuple(boxes), id=export_image[image_id])
                   for image_id, boxes in by_image.items())
    return LabelSet(tuple(Category(c.name, c.coco_id, c.supercategory) for c in categories.values()), images)


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


def export_ids(s: Session, table: type[Image] | type[Annotation]) -> dict[int, int]:
    return assign_ids(_tuples(s, select(table.id, table.coco_id).order_by(table.id)))


def _tuples(s: Session, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of a query without parameters (and no column needing conversion) as plain tuples from the
    driver (sqlite3 or psycopg), in ``s``'s transaction: SQLAlchemy's row handling costs more than building
    the label set from them when a project has 100k boxes (psycopg: one fetchone() per row)."""
    conn = s.connection()
    compiled = query.compile(conn)
    if compiled.params or conn.dialect.name not in ("sqlite", "postgresql"):
        return [tuple(row) for row in conn.execute(query)]
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        try:
            return driver.execute(str(compiled)).fetchall()  # type: ignore[union-attr]
        except sqlite3.DatabaseError as exc:  # as reading() reports SQLAlchemy's own
            raise StorageError(f"could not read the project database: {exc}") from exc
    import psycopg  # this engine's driver, so installed; imported here as it is an optional dependency

    try:
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            return cursor.execute(str(compiled)).fetchall()
    except psycopg.Error as exc:
        raise StorageError(f"could not read the project database: {exc}") from exc


# --- selection --------------------------------------------------------------------------------------


def _image_rows(s: Session, scope: Scope, ids: dict[int, int]) -> list[Any]:
    query = select(Image.id, Image.path, Image.width, Image.height, Image.video_path, Image.frame_index,
                   Image.reviewed_at, Image.content_hash, Image.split)
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
    problems = {r.id: p for r in rows if (p := _row_problem(r))}
    if problems:
        _refuse("image", list(problems), next(iter(problems.values())))
    return rows


def _boxes(s: Session, scope: Scope, image_ids: set[int], annotation_ids: dict[int, int],
           names: dict[int, str]) -> dict[int, list[Box]]:
    # By id alone: a plain table scan (by image first costs an index walk and a sort); each image's boxes
    # still come in id order.
    query = (select(Annotation.id, Annotation.image_id, Annotation.category_id, Annotation.x, Annotation.y,
                    Annotation.w, Annotation.h, Annotation.iscrowd, Annotation.score, Annotation.status,
                    Annotation.origin)
             .order_by(Annotation.id))
    wanted = _wanted_box(scope)
    # Plain tuples from the connection: ORM row handling would double the time for 100k boxes. The rule is
    # asked once per (status, origin) pair, not once per box.
    keep = {(st, o): wanted(st, o) for st in _STATUS for o in _ORIGIN}
    out: dict[int, list[Box]] = {}
    bad: list[int] = []
    for ann_id, image_id, category_id, x, y, w, h, crowd, score, status, origin in _tuples(s, query):
        if image_id not in image_ids or not keep.get((status, origin), False):
            continue
        if not _finite_box(x, y, w, h):
            bad.append(ann_id)
            continue
        box = Box.of(names[category_id], (x, y, w, h), crowd, score, _STATUS[status], _ORIGIN[origin],
                     annotation_ids[ann_id], None)
        if image_id in out:
            out[image_id].append(box)
        else:
            out[image_id] = [box]
    if bad:
        _refuse("annotation", bad, "has a box that is not finite numbers with a width and height >= 0")
    return out


def _wanted_box(scope: Scope) -> Any:
    if scope == "all":
        return lambda status, origin: status != Status.REJECTED
    return counts_as_label


# --- row checks -------------------------------------------------------------------------------------


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
    if problem := split_problem(row.split):
        return f"has a bad stored split: {problem}"
    return None


def _confined(stored: object) -> bool:
    """The text rule of the module docstring (no file system access; a symlink the user made on disk is the
    user's choice, an edited row is what this catches)."""
    if not isinstance(stored, str) or not stored or _CONTROL.search(stored):
        return False
    return ".." not in stored.split(os.sep) and os.path.normpath(stored) == stored


def _show(value: object) -> str:
    text = ascii(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def _refuse(what: str, ids: list[int], reason: str) -> None:
    shown = ", ".join(map(str, ids[:SHOWN_ROWS])) + (f" and {len(ids) - SHOWN_ROWS} more" if len(ids) > SHOWN_ROWS
                                                       else "")
    raise StorageError(f"cannot export: {what} {ids[0]} {reason} ({len(ids)} {what}(s) refused: {shown}; the "
                       "database was probably edited or damaged); nothing was written")


def _finite(value: object) -> bool:
    try:
        return -_INF < value < _INF  # type: ignore[operator]  # False for NaN, TypeError for NULL or text
    except TypeError:
        return False


def _finite_box(x: object, y: object, w: object, h: object) -> bool:
    try:  # TypeError for NULL or text (SQLite stores whatever an edited row holds)
        return isfinite(x) and isfinite(y) and isfinite(w) and isfinite(h) and w >= 0 and h >= 0  # type: ignore
    except TypeError:
        return False
