"""CVAT for images 1.1 XML: export and import (``detector-app export cvat OUT``, ``detector-app import cvat OUT``).

Layout written (CVAT's own "CVAT for images" export)::

    OUT/annotations.xml   <meta> with the task and its labels, then an <image> per image with its <box>es
    OUT/images/...        the images, with --copy-images

Boxes are ``<box label xtl ytl xbr ybr occluded z_order>`` in pixels; COCO's crowd flag is the box attribute
``is_crowd`` (the name CVAT's and Datumaro's COCO converters use), declared on every label. An image's split
is its ``subset`` attribute, as CVAT writes it in project exports (``Train``, ``Validation``, ``Test``); a
task's ``<subset>`` in ``<meta>`` is the split of images that name none (failing that, a file called
``train.xml``, ``val.xml`` or ``test.xml``, as Datumaro's CVAT exporter names one file per subset).

Import reads ``annotations.xml`` (or the XML file given) with ``formats.files.parse_xml`` (defusedxml): a DTD, and with it every entity
(billion laughs, external files), is refused. Boxes are read as they are, polygons as their bounding boxes,
other shapes (polylines, points, ellipses, cuboids, masks, skeletons, tags) are skipped; both are counted in
the import report. Classes: the ``<labels>`` of the meta in their order, then any other label used. Image
names are looked up in the image folder (``--images``, else ``images/`` beside the XML, else its folder)
and must stay inside it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element

from detector_app.core.images import check_image
from detector_app.core.labels import Box, LabelledImage, LabelSet, Split, categories_in_order
from detector_app.core.names import printable
from detector_app.core.paths import is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.formats.files import ImageIndex, parse_xml, problem_text, raise_problems, read_label_file
from detector_app.formats.images import copy_images as copy_images_into
from detector_app.plugins_api import API_VERSION, FormatPlugin

ANNOTATIONS = "annotations.xml"
IMAGES_DIR = "images"
CROWD = "is_crowd"
DEFAULT_SUBSET = "default"  # CVAT's subset of a task that has none
SUBSET_OF = {Split.TRAIN: "Train", Split.VAL: "Validation", Split.TEST: "Test"}  # CVAT's spelling
SPLIT_OF = {"train": Split.TRAIN, "training": Split.TRAIN, "val": Split.VAL, "valid": Split.VAL,
            "validation": Split.VAL, "test": Split.TEST, "testing": Split.TEST}
SKIPPED = ("polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag")
OUTSIDE_TOLERANCE = 0.05  # as COCO's reader: a box may stick out by 5% of the image (+1 px), not more


class CvatFormat(FormatPlugin):
    name = "cvat"
    version = "1.0"
    api_version = API_VERSION
    description = "CVAT for images 1.1 XML (boxes; polygons read as boxes; subset = split)"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if copy_images:
            labels = copy_images_into(labels, out_dir / IMAGES_DIR)
        root = cvat_xml(labels)
        ET.indent(root)
        target = out_dir / ANNOTATIONS
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
        return target

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        single = is_regular_file(path)
        xml_file = path if single else path / ANNOTATIONS
        root_dir = xml_file.parent
        if images_dir is None:
            images_dir = root_dir / IMAGES_DIR if (root_dir / IMAGES_DIR).is_dir() else root_dir
        try:
            data = read_label_file(xml_file, None if single else root_dir)
            root = parse_annotations(data)
        except ET.ParseError as exc:
            raise ImportValidationError(f"{printable(xml_file)}: not XML: {printable(exc)}") from None
        except (OSError, ValueError) as exc:
            raise ImportValidationError(f"{printable(xml_file)}: {problem_text(exc)}") from None
        images = ImageIndex(images_dir)
        tally: Counter[str] = Counter()
        parsed, problems, seen = [], [], set()
        # The task's subset; else the file's name as Datumaro writes a CVAT file per subset (train.xml, ...)
        default_split = _split(_meta_subset(root), tally) or SPLIT_OF.get(xml_file.stem.lower())
        for element in root.findall("image"):
            name = element.get("name") or ""
            try:
                if name in seen:
                    raise ValueError("listed twice")
                seen.add(name)
                parsed.append(parse_image(element, images, tally, default_split))
            except (LookupError, ValueError, OSError) as exc:
                problems.append(f"image {printable(name)[:80]!r}: {problem_text(exc)}")
        if problems:
            raise_problems(xml_file, problems)
        if not parsed:
            raise ImportValidationError(f"{printable(xml_file)}: no <image> elements (a CVAT for images file)")
        names = [*meta_labels(root), *(b.category for i in parsed for b in i.boxes)]
        return LabelSet(categories_in_order(names), tuple(parsed), images.root, _notes(tally))


def cvat_xml(labels: LabelSet) -> Element:
    """The XML of a task export; with splits, of a project export (one task per subset, each image naming its
    ``subset`` and ``task_id``), since Datumaro and CVAT read per-image subsets only from a project."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    root = ET.Element("annotations")
    _text(root, "version", "1.1")
    meta = ET.SubElement(root, "meta")
    subset_of = [SUBSET_OF[i.split] if i.split else DEFAULT_SUBSET for i in labels.images]
    split = any(i.split for i in labels.images)
    subsets = [s for s in (*SUBSET_OF.values(), DEFAULT_SUBSET) if s in subset_of] if split else []
    if split:
        project = ET.SubElement(meta, "project")
        for key, value in (("id", "0"), ("name", "detector-app export"), ("created", now), ("updated", now)):
            _text(project, key, value)
        _labels(project, labels.category_names)
        tasks = ET.SubElement(project, "tasks")
        for task_id, subset in enumerate(subsets):
            _task(tasks, task_id, subset_of.count(subset), subset, now)
    else:
        _labels(_task(meta, 0, len(labels.images), DEFAULT_SUBSET, now), labels.category_names)
    _text(meta, "dumped", now)
    for index, image in enumerate(labels.images):
        attrs = {"id": str(index), "name": image.file_name, "width": str(image.width), "height": str(image.height)}
        if split:
            attrs.update(subset=subset_of[index], task_id=str(subsets.index(subset_of[index])))
        element = ET.SubElement(root, "image", attrs)
        for box in image.boxes:
            x1, y1, x2, y2 = box.xyxy
            shape = ET.SubElement(element, "box", {
                "label": box.category, "source": "manual", "occluded": "0", "xtl": _number(x1), "ytl": _number(y1),
                "xbr": _number(x2), "ybr": _number(y2), "z_order": "0"})
            _text(shape, "attribute", "true" if box.iscrowd else "false").set("name", CROWD)
    return root


def _task(parent: Element, task_id: int, size: int, subset: str, now: str) -> Element:
    task = ET.SubElement(parent, "task")
    for key, value in (("id", str(task_id)), ("name", f"detector-app export ({subset})"), ("size", str(size)),
                       ("mode", "annotation"), ("overlap", "0"), ("bugtracker", ""), ("created", now),
                       ("updated", now), ("subset", subset), ("start_frame", "0"),
                       ("stop_frame", str(max(size - 1, 0))), ("frame_filter", "")):
        _text(task, key, value)
    return task


def _labels(parent: Element, names: list[str]) -> None:
    label_list = ET.SubElement(parent, "labels")
    for name in names:
        label = ET.SubElement(label_list, "label")
        _text(label, "name", name)
        _text(label, "type", "rectangle")
        attribute = ET.SubElement(ET.SubElement(label, "attributes"), "attribute")
        for key, value in (("name", CROWD), ("mutable", "False"), ("input_type", "checkbox"),
                           ("default_value", "false"), ("values", "false\ntrue")):
            _text(attribute, key, value)


def _text(parent: Element, tag: str, text: str) -> Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")  # CVAT writes two decimals; three keep a round trip exact


def parse_annotations(data: bytes) -> Element:
    """The root ``<annotations>``; a DTD (so any entity) is refused. Raises ``ValueError`` or ``ParseError``."""
    root = parse_xml(data)
    if root.tag != "annotations":
        raise ValueError(f"the root element is <{printable(root.tag)[:40]}>, not <annotations> (CVAT for images)")
    if root.find("track") is not None:
        raise ValueError("a CVAT for video file (<track>s); export it as CVAT for images")
    return root


def meta_labels(root: Element) -> list[str]:
    """The label names of the task (or project, or job) in ``<meta>``, in their order."""
    meta = root.find("meta")
    if meta is None:
        return []
    return [(label.findtext("name") or "").strip() for labels in meta.iter("labels") for label in labels.findall("label")
            if (label.findtext("name") or "").strip()]


def _meta_subset(root: Element) -> str:
    return (root.findtext("meta/task/subset") or "").strip()


def _split(subset: str, tally: Counter[str]) -> Split | None:
    if not subset or subset.lower() == DEFAULT_SUBSET:
        return None
    split = SPLIT_OF.get(subset.lower())
    if split is None:
        tally[f"subset {printable(subset)[:30]!r}"] += 1
    return split


def parse_image(element: Element, images: ImageIndex, tally: Counter[str], default_split: Split | None) -> LabelledImage:
    """One ``<image>`` with its boxes. Raises ``ValueError`` (also ``UnsafePathError``) or ``LookupError``."""
    name = element.get("name")
    if not name:
        raise ValueError("an <image> has no name")
    image_path = images.find(name)
    checked = check_image(image_path)
    said = element.get("width"), element.get("height")
    if said != (None, None) and said != (str(checked.width), str(checked.height)):
        raise ValueError(f"width x height {printable(said[0])[:12]}x{printable(said[1])[:12]} is not the "
                         f"image's size {checked.width}x{checked.height}")
    boxes = []
    for shape in element:
        if shape.tag == "box":
            boxes.append(_box(shape, _corners(shape), checked.width, checked.height))
        elif shape.tag == "polygon":
            boxes.append(_box(shape, _points(shape), checked.width, checked.height))
            tally["polygon"] += 1
        elif shape.tag in SKIPPED or shape.tag == "polyline":
            tally[f"skipped {shape.tag}"] += 1
        else:
            tally[f"skipped <{printable(shape.tag)[:20]}>"] += 1
    subset = element.get("subset")
    split = _split(subset.strip(), tally) if subset is not None else default_split
    return LabelledImage(image_path.relative_to(images.root).as_posix(), checked.width, checked.height, tuple(boxes),
                         image_path, split=split)


def _corners(shape: Element) -> list[tuple[float, float]]:
    values = [_float(shape, key) for key in ("xtl", "ytl", "xbr", "ybr")]
    return [(values[0], values[1]), (values[2], values[3])]


def _points(shape: Element) -> list[tuple[float, float]]:
    text = shape.get("points") or ""
    pairs = [p.split(",") for p in text.split(";") if p.strip()]
    if len(pairs) < 3 or any(len(p) != 2 for p in pairs):
        raise ValueError(f"a <polygon> of {printable(shape.get('label'))[:40]!r} needs 3 or more 'x,y' points")
    return [(_number_of(x), _number_of(y)) for x, y in pairs]


def _float(shape: Element, key: str) -> float:
    value = shape.get(key)
    if value is None:
        raise ValueError(f"a <{shape.tag}> of {printable(shape.get('label'))[:40]!r} has no {key}")
    return _number_of(value)


def _number_of(text: str) -> float:
    try:
        value = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{printable(text)[:40]!r} is not a finite number")
    return value


def _box(shape: Element, points: list[tuple[float, float]], width: int, height: int) -> Box:
    label = (shape.get("label") or "").strip()
    if not label:
        raise ValueError(f"a <{shape.tag}> has no label")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    bbox = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    if (shape.tag == "box" and points[0] != (bbox[0], bbox[1])) or not (bbox[2] > 0 and bbox[3] > 0):
        raise ValueError(f"a <{shape.tag}> of {printable(label)[:40]!r} has no area (xbr, ybr not past xtl, ytl)")
    sx, sy = OUTSIDE_TOLERANCE * width + 1, OUTSIDE_TOLERANCE * height + 1
    if min(xs) < -sx or min(ys) < -sy or max(xs) > width + sx or max(ys) > height + sy:
        raise ValueError(f"a <{shape.tag}> of {printable(label)[:40]!r} lies far outside its {width}x{height} image")
    return Box(label, bbox, int(_crowd(shape)))


def _crowd(shape: Element) -> bool:
    return any(a.get("name") in (CROWD, "iscrowd") and (a.text or "").strip().lower() in ("true", "1")
               for a in _attributes(shape))


def _attributes(shape: Element) -> Iterator[Element]:
    return (child for child in shape if child.tag == "attribute")


def _notes(tally: Counter[str]) -> tuple[str, ...]:
    out = []
    if tally["polygon"]:
        out.append(f"{tally['polygon']} polygons imported as their bounding boxes")
    skipped = {k.removeprefix("skipped "): n for k, n in tally.items() if k.startswith("skipped ")}
    if skipped:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        out.append(f"{sum(skipped.values())} shapes that are not boxes skipped ({kinds})")
    subsets = {k: n for k, n in tally.items() if k.startswith("subset ")}
    if subsets:
        shown = ", ".join(f"{k} on {n} images" for k, n in sorted(subsets.items()))
        out.append(f"no train/val/test split for {shown}")
    return tuple(out)


PLUGINS = [CvatFormat]
