"""Pascal VOC XML labels: export and import (``detector-app export voc OUT``, ``detector-app import voc OUT``).

Layout written::

    OUT/Annotations/<image>.xml      one file per image: size and an <object> per box
    OUT/ImageSets/Main/<split>.txt   the ids (annotation file names without .xml) of the images in each split:
                                     train.txt, val.txt, test.txt, and default.txt for images without one
    OUT/labels.txt                   every class name, one a line (keeps classes that have no box yet)
    OUT/labelmap.txt                 the same as Datumaro's VOC reader wants it ("name:::" a line)
    OUT/JPEGImages/...               the images, with --copy-images

Coordinates follow the VOC devkit: 1-based pixels, ``xmin = x + 1`` and ``xmax = x + w`` for a COCO box
``(x, y, w, h)``. They are written with up to three decimals (not rounded to whole pixels) so a round trip
keeps the boxes. COCO's crowd flag maps to VOC's ``difficult`` (both mean "do not count this box in
evaluation") and back. Images are matched by the ``<filename>`` of each file. Each id is in one list only
(Datumaro reads every list as a subset: an id in two would be two items); reading, an image takes the split of
train.txt, val.txt or test.txt that names it (the first, in that order), none otherwise.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path, PurePosixPath

from detector_app.core.images import check_image
from detector_app.core.labels import SPLITS, Box, LabelledImage, LabelSet, Split, categories_in_order
from detector_app.core.names import printable
from detector_app.core.paths import UnsafePathError, confine, is_regular_file
from detector_app.errors import ImportValidationError
from detector_app.formats.files import (
    ImageIndex,
    label_files,
    parse_xml,
    problem_text,
    raise_problems,
    read_label_file,
    read_label_text,
)
from detector_app.formats.images import copy_images as copy_images_into
from detector_app.plugins_api import API_VERSION, FormatPlugin


class VocFormat(FormatPlugin):
    name = "voc"
    version = "1.0"
    api_version = API_VERSION
    description = "Pascal VOC XML, one file per image"

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if copy_images:
            labels = copy_images_into(labels, out_dir / "JPEGImages")
        ids: dict[str, list[str]] = {}
        for image in labels.images:
            image_id = PurePosixPath(image.file_name).with_suffix("").as_posix()
            target = out_dir / "Annotations" / f"{image_id}.xml"
            target.parent.mkdir(parents=True, exist_ok=True)
            ET.ElementTree(voc_xml(image)).write(target, encoding="utf-8", xml_declaration=True)
            ids.setdefault(str(image.split) if image.split is not None else "default", []).append(image_id)
        image_sets = out_dir / "ImageSets" / "Main"
        image_sets.mkdir(parents=True, exist_ok=True)
        for name, members in (ids or {"default": []}).items():
            (image_sets / f"{name}.txt").write_text("".join(i + "\n" for i in members), encoding="utf-8")
        (out_dir / "labels.txt").write_text("".join(n + "\n" for n in labels.category_names), encoding="utf-8")
        # Datumaro's VOC reader takes the classes from labelmap.txt (else VOC's 20 and refuses any other name)
        (out_dir / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n" + "".join(
            f"{n}:::\n" for n in labels.category_names), encoding="utf-8")
        return out_dir / "Annotations"

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        single = is_regular_file(path)
        root = path.parent if single or path.name == "Annotations" else path
        try:  # the folder listed files must stay inside; an Annotations/ that is a symlink leading out is refused
            folder = None if single else confine(root, "Annotations")
        except UnsafePathError as exc:
            raise ImportValidationError(f"{printable(root)}: the Annotations folder: {problem_text(exc)}") from None
        files = [path] if single else label_files(root / "Annotations", "*.xml")
        if not files:
            raise ImportValidationError(f"{printable(path)}: no .xml files in {printable(root / 'Annotations')}")
        images = ImageIndex(images_dir or root / "JPEGImages")
        parsed, problems = [], []
        for xml_file in files:
            try:
                parsed.append(parse_voc_file(xml_file, images, folder))
            except (LookupError, ValueError, OSError, ET.ParseError) as exc:
                problems.append(f"{printable(xml_file.name)}: {problem_text(exc)}")
        if problems:
            raise_problems(path, problems)
        splits = {} if single else read_split_lists(root)
        if splits:
            parsed = [replace(image, split=splits.get(xml_file.relative_to(root / "Annotations").with_suffix("")
                                                     .as_posix())) for image, xml_file in zip(parsed, files, strict=True)]
        try:
            classes = read_class_list(root)
        except (OSError, ValueError) as exc:
            raise ImportValidationError(f"{printable(root / 'labels.txt')}: cannot read it: {problem_text(exc)}") from None
        return LabelSet(categories_in_order(classes), tuple(parsed), images.root)


def voc_xml(image: LabelledImage) -> ET.Element:
    root = ET.Element("annotation")
    _text(root, "folder", PurePosixPath(image.file_name).parent.as_posix())
    _text(root, "filename", PurePosixPath(image.file_name).name)
    _text(ET.SubElement(root, "source"), "database", "detector-app")
    size = ET.SubElement(root, "size")
    for key, value in (("width", image.width), ("height", image.height), ("depth", 3)):
        _text(size, key, str(value))
    _text(root, "segmented", "0")
    for box in image.boxes:
        root.append(voc_object(box))
    ET.indent(root)
    return root


def voc_object(box: Box) -> ET.Element:
    x, y, w, h = box.bbox
    obj = ET.Element("object")
    _text(obj, "name", box.category)
    _text(obj, "pose", "Unspecified")
    _text(obj, "truncated", "0")
    _text(obj, "difficult", str(int(box.iscrowd)))
    bndbox = ET.SubElement(obj, "bndbox")
    for key, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h)):
        _text(bndbox, key, _number(value))
    return obj


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def parse_voc_file(xml_file: Path, images: ImageIndex, folder: Path | None = None) -> LabelledImage:
    """The image named by ``<filename>`` (else the XML file's name) and its boxes. With ``folder`` the XML
    file must lie inside it. The image is looked up only in ``images`` (its folder, confined): a ``<folder>``
    or ``<filename>`` with ``..`` or an absolute path raises ``UnsafePathError`` (a ``ValueError``)."""
    root = parse_xml(read_label_file(xml_file, folder))
    if root.tag != "annotation":
        raise ValueError(f"the root element is <{printable(root.tag)[:40]}>, not <annotation>")
    image_folder = (root.findtext("folder") or "").strip()
    filename = (root.findtext("filename") or "").strip() or xml_file.stem
    relative = f"{image_folder}/{filename}" if image_folder and image_folder != "." else filename
    try:
        image_path = images.find(relative)
    except LookupError:
        image_path = images.find(filename)  # datasets often put the VOC year or "images" in <folder>
    boxes = tuple(_parse_object(obj) for obj in root.iter("object"))
    checked = check_image(image_path)
    return LabelledImage(image_path.relative_to(images.root).as_posix(), checked.width, checked.height, boxes,
                         image_path)


def _parse_object(obj: ET.Element) -> Box:
    name = (obj.findtext("name") or "").strip()
    if not name:
        raise ValueError("an <object> has no <name>")
    box = obj.find("bndbox")
    if box is None:
        raise ValueError(f"object {name!r} has no <bndbox>")
    try:
        xmin, ymin, xmax, ymax = (float(box.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
    except ValueError:
        raise ValueError(f"object {name!r} has a non-numeric coordinate") from None
    bbox = (xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)
    if not (bbox[2] > 0 and bbox[3] > 0):  # also false for NaN (a missing coordinate)
        raise ValueError(f"object {name!r} has an empty or incomplete <bndbox>")
    difficult = (obj.findtext("difficult") or "0").strip() in ("1", "true")
    return Box(name, bbox, int(difficult))


def read_split_lists(root: Path) -> dict[str, Split]:
    """Image id -> split from ImageSets/Main/{train,val,test}.txt (confined, size-capped); the first list wins."""
    found: dict[str, Split] = {}
    for split in SPLITS:
        listed = root / "ImageSets" / "Main" / f"{split}.txt"
        if not is_regular_file(listed):
            continue
        try:
            text = read_label_text(listed, root)
        except (OSError, ValueError) as exc:
            raise ImportValidationError(f"{printable(listed)}: cannot read it: {problem_text(exc)}") from None
        for line in text.splitlines():
            if line.split():
                found.setdefault(line.split()[0], Split(split))
    return found


def read_class_list(root: Path) -> list[str]:
    """labels.txt when present (class order and classes without boxes); the XML files name the rest."""
    labels = root / "labels.txt"
    if not is_regular_file(labels):
        return []
    return [line.strip() for line in read_label_text(labels, root).splitlines() if line.strip()]


PLUGINS = [VocFormat]
