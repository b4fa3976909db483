"""YOLO / Ultralytics datasets: export and import (``detector-app export yolo OUT``, ``import yolo DATA.yaml``).

Layout written (Ultralytics' own, which its dataset loader reads as it is)::

    OUT/data.yaml                 train: images/train, val: images/val[, test: images/test], names {0: ...}
    OUT/images/<split>/<name>     the images, copied (always, see below)
    OUT/labels/<split>/<stem>.txt one line per box: "class cx cy w h", normalised to 0..1 by the image size
    OUT/classes.txt               the class names, one a line (for tools that read no yaml)

Each image goes to the folder of its split; images without a split go to ``train``. ``val`` is always
written (Ultralytics requires the key): an empty ``images/val`` folder when no image is in val.

Why the images are always copied: Ultralytics finds an image's label by replacing the last ``/images/`` of
the *image's* path with ``/labels/``; an image left where it is (``/photos/a.jpg``) cannot be paired with a
label file in the export folder, and a symlink to it is no answer (importers, ours included, do not follow
symlinks out of a dataset). So ``--copy-images`` is implied for this format and the export says so.

YOLO has no "crowd" flag: crowd boxes (COCO ``iscrowd=1``) are left out, as Ultralytics' COCO converter does,
and the export reports how many (a warning). Boxes are clipped to the image: readers reject values outside 0..1.

Import reads any Ultralytics dataset yaml (``yolo_dataset.py``): the given yaml, or a folder's ``data.yaml``
(or its only ``*.yaml``); ``train``/``val``/``test`` as folders, list files or lists of them; each image keeps
the split of the key that listed it; ``--images DIR`` names the dataset root instead of the yaml's ``path``.
A folder with ``classes.txt`` and no yaml, or a yaml without split keys, is read the old way:
``labels/<rel>.txt`` for ``images/<rel>`` (or ``--images DIR/<rel>``), a first folder train/val/test its split.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import replace
from pathlib import Path, PurePosixPath

import yaml

from detector_app.core.images import check_image
from detector_app.core.labels import SPLITS, Box, LabelledImage, LabelSet, Split, categories_in_order
from detector_app.core.names import printable
from detector_app.core.paths import UnsafePathError, confine, is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.formats.files import ImageIndex, label_files, problem_text, raise_problems, read_label_text
from detector_app.formats.images import copy_images as copy_images_into
from detector_app.formats.yolo_dataset import (
    YoloDataset,
    class_names,
    find_yaml,
    has_splits,
    load_yaml,
    read_dataset,
)
from detector_app.plugins_api import API_VERSION, FormatPlugin

log = logging.getLogger(__name__)

DATA_YAML = "data.yaml"
DEFAULT_SPLIT = Split.TRAIN  # where images without a split go


class YoloFormat(FormatPlugin):
    name = "yolo"
    version = "2.0"
    api_version = API_VERSION
    description = "Ultralytics YOLO dataset: data.yaml + images/<split>/ + labels/<split>/ (images always copied)"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if not copy_images:
            log.info("YOLO export copies the images: Ultralytics pairs labels/ with images/ by path")
        names = labels.category_names
        index = {name: i for i, name in enumerate(names)}
        skipped = 0
        for split in SPLITS:
            members = [i for i in labels.images if (i.split or DEFAULT_SPLIT) == split]
            folder = out_dir / "images" / split
            if not members and split == Split.TEST:
                continue
            folder.mkdir(parents=True, exist_ok=True)  # an empty val/ still lets Ultralytics check the yaml
            if not members:
                continue
            copied = copy_images_into(replace(labels, images=tuple(members)), folder)
            for image in copied.images:
                lines = [yolo_line(index[b.category], b, image) for b in image.boxes if not b.iscrowd]
                skipped += len(image.boxes) - len(lines)
                target = out_dir / "labels" / split / PurePosixPath(image.file_name).with_suffix(".txt")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if skipped:
            log.warning("YOLO export left out %d crowd box(es): YOLO has no crowd flag", skipped)
        (out_dir / "classes.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
        has_test = any(i.split == Split.TEST for i in labels.images)
        data_yaml = out_dir / DATA_YAML
        data_yaml.write_text(data_yaml_text(names, has_test), encoding="utf-8")
        return data_yaml

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        yaml_file = find_yaml(path)
        data = load_yaml(yaml_file) if yaml_file is not None else {}
        if yaml_file is not None and has_splits(data):  # --images, when given, names the dataset root
            return read_listed(read_dataset(yaml_file, data, images_dir), path)
        return read_mirrored(path, images_dir, data)


def read_listed(dataset: YoloDataset, source: Path) -> LabelSet:
    """The images the yaml's splits list, each with the boxes of its label file (none when it has none)."""
    found, problems, unlabelled = [], [], 0
    for listed in dataset.images:
        shown = printable(listed.path.relative_to(dataset.root).as_posix())
        try:
            text = ""
            label = confine(dataset.root, listed.label.relative_to(dataset.root).as_posix())  # labels/ linked out
            if os.path.lexists(label):  # a FIFO, a folder or a symlink out is refused, not skipped
                shown = printable(listed.label.relative_to(dataset.root).as_posix())
                text = read_label_text(listed.label, dataset.root)  # confined first: a symlink out is refused
            else:
                unlabelled += 1
            found.append(replace(labelled(listed.path, dataset.root, dataset.names, text), split=listed.split))
        except (LookupError, ValueError, OSError) as exc:
            problems.append(f"{shown}: {problem_text(exc)}")
    if problems:
        raise_problems(source, problems)
    notes = []
    if unlabelled:
        notes.append(f"{unlabelled} image(s) without a label file imported with no boxes (background images)")
    if dataset.repeated:
        notes.append(f"{dataset.repeated} image(s) listed under more than one split kept the first")
    return LabelSet(categories_in_order(dataset.names), tuple(found), dataset.root, tuple(notes))


def read_mirrored(path: Path, images_dir: Path | None, data: dict[str, object]) -> LabelSet:
    """``labels/<rel>.txt`` for ``images/<rel>`` (or ``--images DIR/<rel>``), class names from classes.txt or
    the yaml; a first folder named train, val or test gives the split."""
    root = path.parent if is_regular_file(path) else path
    images = ImageIndex(images_dir or root / "images")
    try:
        classes = read_class_names(root, data)
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, a bad names: value
        raise ImportValidationError(f"{printable(root)}: cannot read the class names: {problem_text(exc)}") from None
    found, problems = [], []
    try:
        labels_dir = confine(root, "labels")  # a labels/ that is a symlink leading out is refused
    except UnsafePathError as exc:
        raise ImportValidationError(f"{printable(root)}: the labels folder: {problem_text(exc)}") from None
    for label_file in label_files(labels_dir, "*.txt"):
        relative = label_file.relative_to(labels_dir).with_suffix("")
        try:
            text = read_label_text(label_file, labels_dir)  # confined first: a symlink out is refused
            image = labelled(images.find(relative.as_posix()), images.root, classes, text)
            first = relative.parts[0] if len(relative.parts) > 1 else ""
            found.append(replace(image, split=Split(first)) if first in SPLITS else image)
        except (LookupError, ValueError, OSError) as exc:
            problems.append(f"{printable(label_file.relative_to(root).as_posix())}: {problem_text(exc)}")
    if problems:
        raise_problems(path, problems)
    if not found:
        raise ImportValidationError(f"{printable(path)}: no label files found in {printable(root / 'labels')}")
    return LabelSet(categories_in_order(classes), tuple(found), images.root)


def read_class_names(root: Path, data: dict[str, object]) -> list[str]:
    """classes.txt, else the yaml's ``names`` (a list, or a mapping of index to name)."""
    classes_txt = root / "classes.txt"
    if is_regular_file(classes_txt):
        return [line.strip() for line in read_label_text(classes_txt, root).splitlines() if line.strip()]
    names = class_names(data)
    if names:
        return names
    raise ImportValidationError(f"{printable(root)}: no dataset yaml with train/val entries, no classes.txt and "
                                "no class names in a yaml")


def labelled(image_path: Path, root: Path, classes: list[str], text: str) -> LabelledImage:
    """The image with the boxes of its label file, in pixels of the image as displayed."""
    checked = check_image(image_path)
    boxes = parse_label_text(text, classes, checked.width, checked.height)
    return LabelledImage(image_path.relative_to(root).as_posix(), checked.width, checked.height, tuple(boxes),
                         image_path)


def yolo_line(class_index: int, box: Box, image: LabelledImage) -> str:
    """"class cx cy w h" with the box clipped to the image and normalised by its size."""
    x, y, w, h = box.bbox
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, image.width), min(y + h, image.height)
    cx, cy = (x1 + x2) / 2 / image.width, (y1 + y2) / 2 / image.height
    nw, nh = (x2 - x1) / image.width, (y2 - y1) / image.height
    return f"{class_index} {cx:.6f} {cy:.6f} {nw:.6f} {nh:.6f}"


def data_yaml_text(names: list[str], has_test: bool) -> str:
    """The data.yaml Ultralytics reads: folders relative to this file's folder, names as a mapping.

    No ``path`` key: Ultralytics takes a relative ``path`` (even ``.``) against the current folder or its own
    datasets folder, while without one it uses the yaml's folder, wherever the export is moved."""
    data: dict[str, object] = {"train": "images/train", "val": "images/val"}
    if has_test:
        data["test"] = "images/test"
    data["names"] = dict(enumerate(names))
    return "# written by detector-app\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


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
