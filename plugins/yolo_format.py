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
from pathlib import Path, PurePosixPath

import yaml

from detector_app.core.images import check_image
from detector_app.core.labels import Box, LabelledImage, LabelSet, categories_in_order
from detector_app.core.names import printable
from detector_app.core.paths import UnsafePathError, confine, is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.formats.files import ImageIndex, label_files, problem_text, raise_problems, read_label_text
from detector_app.formats.images import copy_images as copy_images_into
from detector_app.plugins_api import API_VERSION, FormatPlugin

log = logging.getLogger(__name__)


class YoloFormat(FormatPlugin):
    name = "yolo"
    version = "1.0"
    api_version = API_VERSION
    description = "YOLO txt labels (normalised cx cy w h) + classes.txt + data.yaml"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if copy_images:
            labels = copy_images_into(labels, out_dir / "images")
        names = labels.category_names
        index = {name: i for i, name in enumerate(names)}
        skipped = 0
        for image in labels.images:
            lines = [yolo_line(index[b.category], b, image) for b in image.boxes if not b.iscrowd]
            skipped += len(image.boxes) - len(lines)
            target = out_dir / "labels" / PurePosixPath(image.file_name).with_suffix(".txt")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if skipped:
            log.info("YOLO export left out %d crowd boxes (YOLO has no crowd flag)", skipped)
        (out_dir / "classes.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
        if not copy_images:
            (out_dir / "images.txt").write_text("".join(f"{i.path}\n" for i in labels.images), encoding="utf-8")
        data_yaml = out_dir / "data.yaml"
        data_yaml.write_text(data_yaml_text(names, "images" if copy_images else "images.txt"), encoding="utf-8")
        return data_yaml

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        root = path.parent if is_regular_file(path) else path
        images = ImageIndex(images_dir or root / "images")
        try:
            classes = read_class_names(root)
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not YAML, a bad name in data.yaml
            raise ImportValidationError(f"{printable(root)}: cannot read the class names: {problem_text(exc)}") from None
        found, problems = [], []
        try:
            labels_dir = confine(root, "labels")  # a labels/ that is a symlink leading out is refused
        except UnsafePathError as exc:
            raise ImportValidationError(f"{printable(root)}: the labels folder: {problem_text(exc)}") from None
        for label_file in label_files(labels_dir, "*.txt"):
            relative = label_file.relative_to(labels_dir).with_suffix("").as_posix()
            try:
                text = read_label_text(label_file, labels_dir)  # confined first: a symlink out is refused
                image_path = images.find(relative)
                found.append(labelled(image_path, images.root, label_file, classes, text))
            except (LookupError, ValueError, OSError) as exc:
                problems.append(f"{printable(label_file.relative_to(root).as_posix())}: {problem_text(exc)}")
        if problems:
            raise_problems(path, problems)
        if not found:
            raise ImportValidationError(f"{path}: no label files found in {root / 'labels'}")
        return LabelSet(categories_in_order(classes), tuple(found), images.root)


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
    """classes.txt, else the ``names`` of data.yaml (a list, or a mapping of index to name)."""
    classes_txt = root / "classes.txt"
    if is_regular_file(classes_txt):
        return [line.strip() for line in read_label_text(classes_txt, root).splitlines() if line.strip()]
    data_yaml = root / "data.yaml"
    if is_regular_file(data_yaml):
        names = names_from_yaml(read_label_text(data_yaml, root))
        if names:
            return names
    raise ImportValidationError(f"{root}: no classes.txt, and no class names in data.yaml")


def names_from_yaml(text: str) -> list[str]:
    """The class names of a YOLO data.yaml: ``names`` as a list, or as a mapping of index to name."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"data.yaml is not YAML: {str(exc).splitlines()[0]}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        if not all(isinstance(k, int) for k in names) or sorted(names) != list(range(len(names))):
            raise ValueError("data.yaml 'names' must map the indexes 0, 1, 2, ... to names")
        names = [names[i] for i in range(len(names))]
    if names is None:
        return []
    if not isinstance(names, list) or not all(isinstance(n, str | int | float) for n in names):
        raise ValueError("data.yaml 'names' must be a list of names or a mapping of index to name")
    return [str(n) for n in names]


def labelled(image_path: Path, root: Path, label_file: Path, classes: list[str], text: str) -> LabelledImage:
    """The image with the boxes of its label file, in pixels of the image as displayed."""
    checked = check_image(image_path)
    boxes = parse_label_text(text, classes, checked.width, checked.height)
    return LabelledImage(image_path.relative_to(root).as_posix(), checked.width, checked.height, tuple(boxes),
                         image_path)


def parse_label_text(text: str, classes: list[str], width: int, height: int) -> list[Box]:
    """Boxes in pixels from "class cx cy w h" lines (a segment line "class x1 y1 x2 y2 ..." gives its
    bounding box). Raises ``ValueError`` naming the first bad line."""
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            boxes.append(_parse_line(line.split(), classes, width, height))
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
