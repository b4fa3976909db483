"""Validation of COCO ``instances`` files before anything is imported.

Checks structure and types, duplicate ids and names, references between sections, box values and
whether each box lies (roughly) inside its image. It never raises on odd input: every problem becomes one
line naming the section, the entry's id (or position) and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import reprlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from detector_app.core.names import name_problem, printable
from detector_app.core.paths import (
    Confinement,
    UnsafePathError,
    is_regular_file,
    read_regular_file,
    relative_parts,
)
from detector_app.errors import ImportValidationError, LabelSetError

# A box may stick out of its image by this fraction of the image size (plus one pixel) before it counts as
# "far outside": real COCO files have boxes a fraction of a pixel over the edge.
OUTSIDE_TOLERANCE = 0.05
MAX_ID = 2**63 - 1  # SQLite's INTEGER
MAX_SIDE = 2**31 - 1
MAX_PROBLEMS = 1000  # stop collecting: the first ones are what a person reads
SHOWN_PROBLEMS = 5
# The largest JSON file read: far above any real COCO file, and refused before json.loads needs ~10x it in
# memory. The environment variable overrides it (a number of bytes).
MAX_JSON_BYTES = 2 * 1024**3
LIMIT_VARIABLE = "DETECTOR_APP_MAX_JSON_BYTES"


def json_size_limit() -> int:
    try:
        return max(0, int(os.environ[LIMIT_VARIABLE]))
    except (KeyError, ValueError):
        return MAX_JSON_BYTES


class CocoValidationError(LabelSetError):
    """A COCO file failed validation; ``problems`` lists every problem found (up to MAX_PROBLEMS)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        count = f"{len(problems)}{'+' if len(problems) >= MAX_PROBLEMS else ''}"
        # The message differs from LabelSetError's (kept as users and tests know it): skip its __init__.
        ImportValidationError.__init__(self, f"{printable(source)} cannot be imported, nothing was written ({count} problems): {shown}{more}")


def load_coco_json(path: str | Path, max_bytes: int | None = None) -> Any:
    """Parse a JSON file; unreadable, oversized or malformed files raise a one-line ``CocoValidationError``.

    Only a regular file is read (a FIFO or a device such as ``/dev/zero`` is refused before it is opened, and it
    is opened non-blocking in case it was swapped since), and at most ``max_bytes`` (default: ``json_size_limit()``).
    """
    path = Path(path)
    limit = json_size_limit() if max_bytes is None else max_bytes
    try:
        raw = read_regular_file(path, limit, hint=f"set {LIMIT_VARIABLE} to raise it")
    except FileNotFoundError as exc:
        raise CocoValidationError(str(path), ["file not found"]) from exc
    except OSError as exc:
        raise CocoValidationError(str(path), [f"cannot read it: {printable(exc.strerror or exc)}"]) from exc
    except MemoryError as exc:
        raise CocoValidationError(str(path), ["not enough memory to read it"]) from exc
    try:
        return orjson.loads(raw)  # 2x faster than json on a 100,000-image file
    except orjson.JSONDecodeError:
        pass  # the standard parser words the problem, and takes what orjson refuses (NaN, integers over 64 bits)
    except MemoryError as exc:
        raise CocoValidationError(str(path), ["not enough memory to parse it"]) from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CocoValidationError(str(path), [f"cannot read it: {exc}"]) from exc
    except json.JSONDecodeError as exc:
        raise CocoValidationError(str(path), [f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from exc
    except RecursionError as exc:
        raise CocoValidationError(str(path), ["JSON nested too deeply"]) from exc
    except ValueError as exc:  # e.g. an integer literal beyond Python's int/str conversion limit
        raise CocoValidationError(str(path), [f"not usable JSON: {printable(exc)}"]) from exc
    except MemoryError as exc:
        raise CocoValidationError(str(path), ["not enough memory to parse it"]) from exc


def validate_coco(data: Any, images_dir: str | Path | None = None,
                  images_valid: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
    """Problems found in a parsed COCO dataset (empty when it can be imported).

    With ``images_dir`` each image's ``file_name`` must name an existing file inside that folder.
    ``images_valid(data)`` is called once the categories and images are found valid, before the annotations
    are checked: an import starts reading the image files then.
    """
    problems = _Problems()
    if not isinstance(data, Mapping):
        problems.add(f"the top level must be a JSON object with images, annotations and categories, "
                     f"not {_kind(data)}")
        return problems.items
    sections = {}
    for key in ("images", "annotations", "categories"):
        value = data.get(key)
        if value is None:
            problems.add(f"missing key '{key}'")
        elif not isinstance(value, list):
            problems.add(f"'{key}' must be a list, not {_kind(value)}")
        else:
            sections[key] = value
    if len(sections) < 3:
        return problems.items
    categories = _check_categories(sections["categories"], problems)
    images = _check_images(sections["images"], problems, Path(images_dir) if images_dir is not None else None)
    if images_valid is not None and not problems.items:
        images_valid(data)
    _check_annotations(sections["annotations"], images, categories, problems)
    return problems.items


def raise_if_invalid(source: str | Path, data: Any, images_dir: str | Path | None = None) -> None:
    problems = validate_coco(data, images_dir)
    if problems:
        raise CocoValidationError(str(source), problems)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(text)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _label(section: str, index: int, entry: Mapping[str, Any]) -> str:
    """'image id 7' when the entry has a usable id, else its position: 'images[3]'."""
    entry_id = entry.get("id")
    singular = {"images": "image", "annotations": "annotation", "categories": "category"}[section]
    return f"{singular} id {_short(entry_id)}" if _is_int(entry_id) else f"{section}[{index}]"


def _entries(section: str, items: list[Any], problems: _Problems) -> list[tuple[int, Mapping[str, Any]]]:
    out = []
    for index, entry in enumerate(items):
        if isinstance(entry, Mapping):
            out.append((index, entry))
        else:
            problems.add(f"{section}[{index}] must be an object, not {_kind(entry)}")
    return out


def _check_id(section: str, index: int, entry: Mapping[str, Any], seen: set[int], problems: _Problems,
              minimum: int) -> int | None:
    value = entry.get("id")
    if value is None:
        problems.add(f"{section}[{index}] has no 'id'")
        return None
    if not _is_int(value) or not minimum <= value <= MAX_ID:
        problems.add(f"{section}[{index}] id must be an integer from {minimum} to 2^63-1, not {_short(value)}")
        return None
    if value in seen:
        problems.add(f"{_label(section, index, entry)} is used twice")
        return None
    seen.add(value)
    return value


def _check_categories(items: list[Any], problems: _Problems) -> set[int]:
    ids: set[int] = set()
    names: set[str] = set()
    for index, entry in _entries("categories", items, problems):
        _check_id("categories", index, entry, ids, problems, minimum=0)
        label = _label("categories", index, entry)
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.add(f"{label} needs a non-empty string 'name', not {_short(name)}")
        elif (problem := name_problem(name, "its name")) is not None:
            problems.add(f"{label}: {problem}")
        elif name.strip() == "__background__":
            problems.add(f"{label} uses the reserved name '__background__'")
        elif name.strip() in names:
            problems.add(f"{label} repeats the name {name!r}")
        else:
            names.add(name.strip())
        supercategory = entry.get("supercategory", "")
        if supercategory is not None and not isinstance(supercategory, str):
            problems.add(f"{label} 'supercategory' must be a string, not {_kind(supercategory)}")
        elif supercategory and supercategory.strip() and (
                problem := name_problem(supercategory, "its supercategory")) is not None:
            problems.add(f"{label}: {problem}")
    return ids


def _check_images(items: list[Any], problems: _Problems, images_dir: Path | None) -> dict[int, tuple[int, int]]:
    """Valid images as id -> (width, height)."""
    sizes: dict[int, tuple[int, int]] = {}
    ids: set[int] = set()
    names: set[str] = set()
    confinement = Confinement(images_dir) if images_dir is not None else None
    for index, entry in _entries("images", items, problems):
        image_id = _check_id("images", index, entry, ids, problems, minimum=0)
        label = _label("images", index, entry)
        width, height = entry.get("width"), entry.get("height")
        size_ok = True
        for key, value in (("width", width), ("height", height)):
            if not _is_int(value) or not 0 < value <= MAX_SIDE:
                problems.add(f"{label} '{key}' must be a positive integer, not {_short(value)}")
                size_ok = False
        name_ok = _check_file_name(label, entry.get("file_name"), names, problems, confinement)
        if image_id is not None and size_ok and name_ok:
            sizes[image_id] = (width, height)
    return sizes


def _check_file_name(label: str, name: Any, seen: set[str], problems: _Problems,
                     confinement: Confinement | None) -> bool:
    """The name is checked as text first (``core.paths``: inside the folder, no control characters, not too
    long), then confined to ``images_dir`` (symlinks out refused), and only then is the file ``stat``-ed."""
    if not isinstance(name, str) or not name.strip():
        problems.add(f"{label} needs a non-empty string 'file_name', not {_short(name)}")
        return False
    try:
        parts = relative_parts(name)
    except UnsafePathError as exc:
        problems.add(f"{label} file_name {exc}")
        return False
    if name in seen:
        problems.add(f"{label} repeats file_name {name!r}")
        return False
    seen.add(name)
    if confinement is None:
        return True
    try:
        real = confinement.real_path(parts, name)
    except UnsafePathError as exc:
        problems.add(f"{label} file_name {exc}")
        return False
    if not is_regular_file(real):
        problems.add(f"{label} file {name!r} not found in {printable(confinement.root)}"
                     + (" (it is not a regular file)" if _exists(confinement.root.joinpath(*parts)) else ""))
        return False
    return True


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _check_annotations(items: list[Any], images: dict[int, tuple[int, int]], categories: set[int],
                       problems: _Problems) -> None:
    ids: set[int] = set()
    for index, entry in enumerate(items):
        if _annotation_ok(entry, images, categories, ids):
            continue
        if not isinstance(entry, Mapping):
            problems.add(f"annotations[{index}] must be an object, not {_kind(entry)}")
            continue
        _check_id("annotations", index, entry, ids, problems, minimum=0)
        label = _label("annotations", index, entry)
        image_id, category_id = entry.get("image_id"), entry.get("category_id")
        image_ok = _is_int(image_id) and image_id in images
        if not image_ok:
            problems.add(f"{label} image_id {_short(image_id)} is not a valid image in 'images'")
        if not (_is_int(category_id) and category_id in categories):
            problems.add(f"{label} category_id {_short(category_id)} is not a valid category in 'categories'")
        iscrowd = entry.get("iscrowd", 0)
        if not (_is_int(iscrowd) and iscrowd in (0, 1)):
            problems.add(f"{label} iscrowd must be 0 or 1, not {_short(iscrowd)}")
        box_problem = _bbox_problem(entry.get("bbox"), images.get(image_id) if image_ok else None)
        if box_problem:
            problems.add(f"{label} {box_problem}")


_PLAIN_NUMBER = {float: True, int: True}  # not bool, not a subclass: those get the detailed checks


def _annotation_ok(entry: Any, images: dict[int, tuple[int, int]], categories: set[int], ids: set[int]) -> bool:
    """Fast path for the common case, a valid annotation (100k of them must validate in well under 1 s);
    anything unusual returns False and gets the detailed checks that word the problem."""
    try:
        ann_id, image_id, category_id, bbox = entry["id"], entry["image_id"], entry["category_id"], entry["bbox"]
        iscrowd = entry.get("iscrowd", 0)
    except (KeyError, TypeError, AttributeError):
        return False
    if not (type(ann_id) is int and type(image_id) is int and type(category_id) is int and type(bbox) is list
            and len(bbox) == 4 and 0 <= ann_id <= MAX_ID and ann_id not in ids and category_id in categories
            and (iscrowd == 0 or iscrowd == 1) and type(iscrowd) is int):
        return False
    size = images.get(image_id)
    x, y, w, h = bbox
    if size is None or not (_PLAIN_NUMBER.get(type(x)) and _PLAIN_NUMBER.get(type(y)) and _PLAIN_NUMBER.get(type(w))
                            and _PLAIN_NUMBER.get(type(h))):
        return False
    try:
        if not (math.isfinite(x + y + w + h) and w > 0 and h > 0):
            return False
    except OverflowError:  # an integer beyond float range
        return False
    sx, sy = OUTSIDE_TOLERANCE * size[0] + 1, OUTSIDE_TOLERANCE * size[1] + 1
    if x < -sx or y < -sy or x + w > size[0] + sx or y + h > size[1] + sy:
        return False
    ids.add(ann_id)
    return True


def _bbox_problem(bbox: Any, size: tuple[int, int] | None) -> str | None:
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        return f"bbox must be a list of four numbers [x, y, w, h], not {_short(bbox)}"
    try:
        x, y, w, h = (float(v) for v in bbox)
    except OverflowError:
        return f"bbox {_short(bbox)} has a value too large for a coordinate"
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"bbox {bbox} has a non-finite value"
    if w <= 0 or h <= 0:
        return f"bbox {bbox} must have positive width and height"
    if size is not None:
        width, height = size
        sx, sy = OUTSIDE_TOLERANCE * width + 1, OUTSIDE_TOLERANCE * height + 1
        if x < -sx or y < -sy or x + w > width + sx or y + h > height + sy:
            return f"bbox {bbox} lies far outside its {width}x{height} image"
    return None


_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 30, 30


def _short(value: Any) -> str:
    return _REPR.repr(value)
