"""YOLO labels: export and import (``detector-app export yolo OUT``, ``detector-app import yolo OUT``).

Layout written::

    OUT/data.yaml        class count and names, and where the images are
    OUT/classes.txt      one class name per line; the line number is the class index
    OUT/labels/<image>.txt   one line per box: "class cx cy w h", normalised to 0..1 by the image size
    OUT/images/...       the images, with --copy-images (else OUT/images.txt lists their full paths)

Label files mirror the images' relative paths (``a/b.jpg`` -> ``labels/a/b.txt``); an image without boxes gets
an empty file so it still counts as labelled. YOLO has no "crowd" flag, so crowd boxes (COCO ``iscrowd=1``,
a region of many objects) are left out of the export, as Ultralytics' own COCO converter does. Boxes are
clipped to the image, since YOLO readers reject coordinates outside 0..1.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from detector_app.core.names import printable
from detector_app.core.paths import is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.plugins_api import API_VERSION, ExporterPlugin, ExportScope
from detector_app.plugins_api.formats import (
    Box,
    ImageIndex,
    LabelledImage,
    ParsedImage,
    image_info,
    label_files,
    problem_text,
    raise_problems,
    read_label_text,
    read_labels,
    write_labels,
)

if TYPE_CHECKING:
    from detector_app.export.coco import ImportReport
    from detector_app.storage import Repository

log = logging.getLogger(__name__)


class YoloFormat(ExporterPlugin):
    name = "yolo"
    version = "1.0"
    api_version = API_VERSION
    description = "YOLO txt labels (normalised cx cy w h) + classes.txt + data.yaml"

    def export(self, repo: Repository, out_dir: Path, scope: ExportScope = "reviewed", copy_images: bool = False) -> Path:
        labels = read_labels(repo, scope, copy_images_to=out_dir / "images" if copy_images else None)
        index = {name: i for i, name in enumerate(labels.categories)}
        skipped = 0
        for image in labels.images:
            lines = [yolo_line(index[b.category], b, image) for b in image.boxes if not b.iscrowd]
            skipped += len(image.boxes) - len(lines)
            target = out_dir / "labels" / PurePosixPath(image.file_name).with_suffix(".txt")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if skipped:
            log.info("YOLO export left out %d crowd boxes (YOLO has no crowd flag)", skipped)
        (out_dir / "classes.txt").write_text("".join(n + "\n" for n in labels.categories), encoding="utf-8")
        if not copy_images:
            (out_dir / "images.txt").write_text("".join(f"{i.path}\n" for i in labels.images), encoding="utf-8")
        data_yaml = out_dir / "data.yaml"
        data_yaml.write_text(data_yaml_text(labels.categories, "images" if copy_images else "images.txt"),
                             encoding="utf-8")
        return data_yaml

    def import_(self, repo: Repository, path: Path, images_dir: Path | None) -> ImportReport:
        root = path.parent if is_regular_file(path) else path
        images = ImageIndex(images_dir or root / "images")
        try:
            classes = read_class_names(root)
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8, a bad quoted name in data.yaml
            raise ImportValidationError(f"{printable(root)}: cannot read the class names: {problem_text(exc)}") from None
        parsed, problems = [], []
        labels_dir = root / "labels"
        for label_file in label_files(labels_dir, "*.txt"):
            relative = label_file.relative_to(labels_dir).with_suffix("").as_posix()
            try:
                text = read_label_text(label_file, labels_dir)  # confined first: a symlink out is refused
                image_path = images.find(relative)
                parsed.append(ParsedImage(image_path, parse_label_file(label_file, image_path, classes, text)))
            except (LookupError, ValueError, OSError) as exc:
                problems.append(f"{printable(label_file.relative_to(root).as_posix())}: {problem_text(exc)}")
        if problems:
            raise_problems(path, problems)
        if not parsed:
            raise ImportValidationError(f"{path}: no label files found in {root / 'labels'}")
        return write_labels(repo, parsed, classes, images.root, path)


def yolo_line(class_index: int, box: Box, image: LabelledImage) -> str:
    """"class cx cy w h" with the box clipped to the image and normalised by its size."""
    x, y, w, h = box.bbox
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, image.width), min(y + h, image.height)
    cx, cy = (x1 + x2) / 2 / image.width, (y1 + y2) / 2 / image.height
    nw, nh = (x2 - x1) / image.width, (y2 - y1) / image.height
    return f"{class_index} {cx:.6f} {cy:.6f} {nw:.6f} {nh:.6f}"


def data_yaml_text(names: list[str], images: str) -> str:
    # Without a "path" key YOLO tools resolve train/val relative to this file's folder.
    quoted = ", ".join(json.dumps(n) for n in names)  # JSON strings are valid YAML scalars
    return (f"# written by detector-app\ntrain: {images}\nval: {images}\n"
            f"nc: {len(names)}\nnames: [{quoted}]\n")


def read_class_names(root: Path) -> list[str]:
    """classes.txt, else the ``names`` of data.yaml (flow list or the "  0: name" block form)."""
    classes_txt = root / "classes.txt"
    if is_regular_file(classes_txt):
        return [line.strip() for line in read_label_text(classes_txt).splitlines() if line.strip()]
    data_yaml = root / "data.yaml"
    if is_regular_file(data_yaml):
        names = names_from_yaml(read_label_text(data_yaml))
        if names:
            return names
    raise ImportValidationError(f"{root}: no classes.txt, and no class names in data.yaml")


def names_from_yaml(text: str) -> list[str]:
    """The class names of a YOLO data.yaml, read without a YAML library (only the ``names`` key matters)."""
    flow = re.search(r"^names:\s*(\[.*\])\s*$", text, re.MULTILINE)
    if flow:
        items = re.findall(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^,\[\]]+)\s*(?:,|\])""", flow.group(1))
        return [_unquote(item) for item in items]
    block = re.search(r"^names:\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    if not block:
        return []
    names = []
    for line in block.group(1).splitlines():
        item = re.match(r"\s+(?:-\s*|\d+\s*:\s*)(.+?)\s*$", line)
        if item:
            names.append(_unquote(item.group(1)))
    return names


def _unquote(item: str) -> str:
    item = item.strip()
    if item.startswith('"'):
        return json.loads(item)
    return item.strip("'")


def parse_label_file(label_file: Path, image_path: Path, classes: list[str], text: str | None = None) -> list[Box]:
    """Boxes in pixels from "class cx cy w h" lines (a segment line "class x1 y1 x2 y2 ..." gives its
    bounding box); ``text`` is the file's content when already read. Raises ``ValueError`` naming the first
    bad line."""
    info = image_info(image_path)
    boxes = []
    text = read_label_text(label_file) if text is None else text
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            boxes.append(_parse_line(line.split(), classes, info.width, info.height))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return boxes


def _parse_line(fields: list[str], classes: list[str], width: int, height: int) -> Box:
    if len(fields) != 5 and (len(fields) < 7 or len(fields) % 2 == 0):
        raise ValueError(f"expected 'class cx cy w h' or a polygon, got {len(fields)} values")
    if not (fields[0].isascii() and fields[0].isdigit() and len(fields[0]) < 10) or int(fields[0]) >= len(classes):
        raise ValueError(f"class {_clip(fields[0])!r} is not an index into the {len(classes)} classes")
    try:
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f"a coordinate is not a number: {_clip(' '.join(fields[1:]))!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError("a coordinate is not a finite number")
    if len(fields) == 5:
        cx, cy, w, h = values
    else:  # polygon: its bounding box
        xs, ys = values[0::2], values[1::2]
        cx, cy, w, h = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)
    if not (w > 0 and h > 0):
        raise ValueError("box width and height must be positive")
    bbox = ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
    return Box(classes[int(fields[0])], bbox)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


PLUGINS = [YoloFormat]
