"""labelme JSON labels: export and import (``detector-app export labelme OUT``, ``detector-app import labelme OUT``).

Layout written (labelme's own: one JSON beside each image)::

    OUT/[<split>/]<image>.json   one file per image: its rectangles and the image's path (imagePath)
    OUT/[<split>/]<image file>   the images, with --copy-images: imagePath is then the file name beside the
                                 JSON (else the image's absolute path; import it with --images)
    OUT/labels.txt               every class name, one a line (labelme's ``--labels`` file; keeps the order
                                 and classes without boxes)

labelme has no split field, so an image with a split is put in a ``train/``, ``val/`` or ``test/`` folder,
the way labelme datasets are usually kept, and a JSON under such a top folder is read back with that split.
A box is a ``rectangle`` shape with its two corners; COCO's crowd flag is the shape flag ``crowd``.

Import reads every ``*.json`` under the folder (or the one file given). Rectangles are boxes; a polygon
becomes its bounding box and other shapes (circles, lines, points, masks) are skipped, both counted in the
import report. Classes: ``labels.txt`` when present (labelme's ``__ignore__`` and ``_background_`` lines
left out), then every other label in the order first met. The image is looked up only among the image files
inside the image folder (``--images``, else the JSON folder): by ``imagePath`` relative to the JSON, and, for
an ``imagePath`` that leaves the folder (``../``, absolute, as labelme writes for images kept elsewhere), by
its file name alone; the path itself is never opened.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from detector_app.core.images import check_image
from detector_app.core.labels import SPLITS, Box, LabelledImage, LabelSet, Split, categories_in_order
from detector_app.core.names import printable
from detector_app.core.paths import is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.formats.files import ImageIndex, label_files, problem_text, raise_problems, read_label_text
from detector_app.formats.images import copy_images as copy_images_into
from detector_app.plugins_api import API_VERSION, FormatPlugin

LABELME_VERSION = "5.5.0"  # the file layout written; labelme 4 to 6 read it
LABELS_FILE = "labels.txt"
IGNORED_LABELS = ("__ignore__", "_background_")  # lines of labelme's labels.txt that are not classes
CROWD_FLAG = "crowd"
OUTSIDE_TOLERANCE = 0.05  # as COCO's reader: a box may stick out by 5% of the image (+1 px), not more


class LabelmeFormat(FormatPlugin):
    name = "labelme"
    version = "1.0"
    api_version = API_VERSION
    description = "labelme JSON, one file per image (rectangles; polygons read as boxes)"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if copy_images:
            labels = _copied_by_split(labels, out_dir)
        taken: set[Path] = set()
        for image in labels.images:
            folder = out_dir / image.split.value if image.split else out_dir
            target = folder / PurePosixPath(image.file_name).with_suffix(".json")
            if target in taken:  # a.png beside a.jpg: the second JSON keeps the image's suffix in its name
                target = folder / f"{image.file_name}.json"
            taken.add(target)
            image_path = PurePosixPath(image.file_name).name if copy_images else _image_path(image)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(labelme_dict(image, image_path), indent=2, allow_nan=False),
                              encoding="utf-8")
        (out_dir / LABELS_FILE).write_text("".join(n + "\n" for n in labels.category_names), encoding="utf-8")
        return out_dir

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        single = is_regular_file(path)
        root = path.parent if single else path
        files = [path] if single else [f for f in label_files(root, "*.json")  # not the export's .manifest
                                       if not any(p.startswith(".") for p in f.relative_to(root).parts)]
        if not files:
            raise ImportValidationError(f"{printable(path)}: no labelme .json files in it")
        images = ImageIndex(images_dir or root)
        tally = Tally()
        parsed, problems = [], []
        for json_file in files:
            relative = json_file.relative_to(root).as_posix()
            try:
                text = read_label_text(json_file, None if single else root)  # confined: a symlink out is refused
                parsed.append(parse_labelme(text, relative, images, tally, images_dir is None))
            except (LookupError, ValueError, OSError, TypeError) as exc:
                problems.append(f"{printable(relative)}: {problem_text(exc)}")
        if problems:
            raise_problems(path, problems)
        try:
            classes = read_class_list(root)
        except (OSError, ValueError) as exc:
            raise ImportValidationError(f"{printable(root / LABELS_FILE)}: cannot read it: {problem_text(exc)}") from None
        names = [*classes, *(b.category for i in parsed for b in i.boxes)]
        return LabelSet(categories_in_order(names), tuple(parsed), images.root, tally.notes())


def _copied_by_split(labels: LabelSet, out_dir: Path) -> LabelSet:
    """The images copied into OUT (or OUT/<split>), each group named relative to its folder."""
    by_folder: dict[Split | None, list[LabelledImage]] = {}
    for image in labels.images:
        by_folder.setdefault(image.split, []).append(image)
    copied: dict[int, LabelledImage] = {}
    for split, group in by_folder.items():
        folder = out_dir / split.value if split else out_dir
        done = copy_images_into(replace(labels, images=tuple(group)), folder)
        copied.update({id(original): new for original, new in zip(group, done.images, strict=True)})
    return replace(labels, images=tuple(copied[id(i)] for i in labels.images), images_dir=out_dir)


def _image_path(image: LabelledImage) -> str:
    """imagePath of an image left where it is: its absolute path (labelme opens it as it is). A path relative to
    the JSON cannot be written: the export is written in a staging folder and published afterwards."""
    return Path(os.path.abspath(image.path)).as_posix() if image.path is not None else image.file_name


def labelme_dict(image: LabelledImage, image_path: str) -> dict[str, Any]:
    """The JSON of one image, as labelme saves it (no embedded image data)."""
    return {"version": LABELME_VERSION, "flags": {}, "shapes": [rectangle(box) for box in image.boxes],
            "imagePath": image_path, "imageData": None, "imageHeight": image.height, "imageWidth": image.width}


def rectangle(box: Box) -> dict[str, Any]:
    x1, y1, x2, y2 = box.xyxy
    return {"label": box.category, "points": [[x1, y1], [x2, y2]], "group_id": None, "description": "",
            "shape_type": "rectangle", "flags": {CROWD_FLAG: True} if box.iscrowd else {}, "mask": None}


class Tally:
    """What the import changed on the way, for the report."""

    def __init__(self) -> None:
        self.polygons = 0
        self.skipped: Counter[str] = Counter()

    def notes(self) -> tuple[str, ...]:
        out = []
        if self.polygons:
            out.append(f"{self.polygons} polygons imported as their bounding boxes")
        if self.skipped:
            kinds = ", ".join(f"{n} {printable(kind)[:20]}" for kind, n in sorted(self.skipped.items()))
            out.append(f"{sum(self.skipped.values())} shapes that are not boxes skipped ({kinds})")
        return tuple(out)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_labelme(text: str, relative: str, images: ImageIndex, tally: Tally, beside: bool) -> LabelledImage:
    """One labelme file (``relative``: its path in the folder read). ``beside``: the images sit in that folder
    too, so ``imagePath`` is looked up relative to the JSON first. Raises ``ValueError`` (also
    ``UnsafePathError``) or ``LookupError`` naming the problem."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ValueError("not JSON: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ValueError("not a labelme file (no 'shapes' list)")
    image_path = _find_image(data.get("imagePath"), relative, images, beside)
    checked = check_image(image_path)
    _check_size(data, checked.width, checked.height)
    boxes = [box for index, shape in enumerate(data["shapes"])
             if (box := parse_shape(shape, index, checked.width, checked.height, tally)) is not None]
    top = PurePosixPath(relative).parts[0] if len(PurePosixPath(relative).parts) > 1 else ""
    split = Split(top) if top in SPLITS else None
    return LabelledImage(image_path.relative_to(images.root).as_posix(), checked.width, checked.height,
                         tuple(boxes), image_path, split=split)


def _find_image(image_path: object, relative: str, images: ImageIndex, beside: bool) -> Path:
    if not isinstance(image_path, str) or not image_path.strip():
        raise ValueError("'imagePath' must name the image file")
    text = image_path.replace("\\", "/")
    folder = posixpath.dirname(relative)
    joined = posixpath.normpath(posixpath.join(folder, text)) if beside else posixpath.normpath(text)
    if text.startswith("/") or joined == ".." or joined.startswith("../") or ":" in text.split("/")[0]:
        return images.find(PurePosixPath(text).name)  # outside the folder: only a listed file of that name
    return images.find(joined)


def _check_size(data: dict[str, Any], width: int, height: int) -> None:
    said = data.get("imageWidth"), data.get("imageHeight")
    if said == (None, None):
        return
    if said != (width, height) or any(isinstance(v, bool) for v in said):
        raise ValueError(f"imageWidth x imageHeight {printable(said[0])[:12]}x{printable(said[1])[:12]} "
                         f"is not the image's size {width}x{height}")


def parse_shape(shape: object, index: int, width: int, height: int, tally: Tally) -> Box | None:
    """A box from a rectangle or a polygon (its bounding box); None for other shapes (counted)."""
    if not isinstance(shape, dict):
        raise ValueError(f"shape {index} is not an object")
    label = shape.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"shape {index} has no label")
    kind = shape.get("shape_type") or "polygon"  # labelme's default for files without it
    if not isinstance(kind, str):
        raise ValueError(f"shape {index} has a shape_type that is not text")
    if kind not in ("rectangle", "polygon"):
        tally.skipped[kind] += 1
        return None
    points = _points(shape.get("points"), index)
    if kind == "rectangle" and len(points) != 2:
        raise ValueError(f"shape {index} (rectangle) must have 2 points, not {len(points)}")
    if kind == "polygon":
        if len(points) < 3:
            raise ValueError(f"shape {index} (polygon) must have at least 3 points, not {len(points)}")
        tally.polygons += 1
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    bbox = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    if not (bbox[2] > 0 and bbox[3] > 0):
        raise ValueError(f"shape {index} ({printable(label)[:40]!r}) has no area")
    sx, sy = OUTSIDE_TOLERANCE * width + 1, OUTSIDE_TOLERANCE * height + 1
    if min(xs) < -sx or min(ys) < -sy or max(xs) > width + sx or max(ys) > height + sy:
        raise ValueError(f"shape {index} ({printable(label)[:40]!r}) lies far outside its {width}x{height} image")
    flags = shape.get("flags")
    crowd = isinstance(flags, dict) and flags.get(CROWD_FLAG) is True
    return Box(label.strip(), bbox, int(crowd))


def _points(points: object, index: int) -> list[tuple[float, float]]:
    if not isinstance(points, list) or not points:
        raise ValueError(f"shape {index} has no 'points' list")
    out = []
    for point in points:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)):
            raise ValueError(f"shape {index}: a point must be [x, y], not {printable(point)[:40]}")
        try:
            x, y = float(point[0]), float(point[1])
        except OverflowError:
            raise ValueError(f"shape {index}: a coordinate is too large") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"shape {index}: a coordinate is not finite")
        out.append((x, y))
    return out


def read_class_list(root: Path) -> list[str]:
    """labels.txt when present (class order, classes without boxes); labelme's special lines left out."""
    labels = root / LABELS_FILE
    if not is_regular_file(labels):
        return []
    return _class_lines(read_label_text(labels, root).splitlines())


def _class_lines(lines: Iterable[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and line.strip() not in IGNORED_LABELS]


PLUGINS = [LabelmeFormat]
