"""The COCO codec: ``instances.json`` <-> :class:`LabelSet`. Pure: no database, no Qt.

Reading validates everything first (``coco_validate``) and raises one ``CocoValidationError`` naming the
problems; writing returns the dataset dict, which the export step serialises. Ids from the file are kept
(``Category.id``, ``LabelledImage.id``, ``Box.id``) so that exporting gives them back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from detector_app import __version__
from detector_app.core.labels import Box, Category, LabelledImage, LabelSet, Origin, Status
from detector_app.formats.coco_validate import CocoValidationError, load_coco_json, validate_coco

DATASET_FILE = "instances.json"
RESULTS_FILE = "results.json"
IMAGES_DIR = "images"


def read_coco(json_path: str | Path, images_dir: str | Path) -> LabelSet:
    """A validated label set from a COCO ``instances`` file whose ``file_name``s are relative to
    ``images_dir``. Boxes are human labels (status accepted), as a person made them."""
    json_path, images_dir = Path(json_path), Path(images_dir)
    if not images_dir.is_dir():
        raise CocoValidationError(str(json_path), [f"image folder {images_dir} not found"])
    data = load_coco_json(json_path)
    problems = validate_coco(data, images_dir)
    if problems:
        raise CocoValidationError(str(json_path), problems)
    return label_set_from_coco(data, images_dir)


def label_set_from_coco(data: dict[str, Any], images_dir: Path) -> LabelSet:
    """A label set from a COCO dict that :func:`validate_coco` accepted."""
    names = {c["id"]: c["name"].strip() for c in data["categories"]}
    categories = tuple(Category(names[c["id"]], c["id"], c.get("supercategory") or "") for c in data["categories"])
    boxes: dict[int, list[Box]] = {}
    for a in data["annotations"]:
        bbox = tuple(float(v) for v in a["bbox"])
        boxes.setdefault(a["image_id"], []).append(
            Box(names[a["category_id"]], bbox, int(a.get("iscrowd", 0)), None, Status.ACCEPTED, Origin.HUMAN,
                a["id"]))
    images = []
    for entry in data["images"]:
        file_name = entry["file_name"].replace("\\", "/")
        images.append(LabelledImage(file_name, entry["width"], entry["height"], tuple(boxes.get(entry["id"], ())),
                                    images_dir / PurePosixPath(file_name), entry["id"]))
    return LabelSet(categories, tuple(images), images_dir)


def coco_dataset(labels: LabelSet, images_dir: str) -> dict[str, Any]:
    """The COCO ``instances`` dict of ``labels``; every image, box and category must carry its id.

    ``images_dir`` is recorded in ``info.images_dir``: the folder ``file_name``s are relative to.
    """
    category_id = {c.name: c.id for c in labels.categories}
    images, annotations = [], []
    for image in labels.images:
        images.append({"id": image.id, "file_name": image.file_name, "width": image.width, "height": image.height})
        annotations.extend(
            {"id": box.id, "image_id": image.id, "category_id": category_id[box.category], "bbox": list(box.bbox),
             "area": box.bbox[2] * box.bbox[3], "iscrowd": box.iscrowd, "segmentation": []}
            for box in image.boxes)
    return {
        "info": _info(images_dir),
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in labels.categories],
    }


def coco_results(labels: LabelSet) -> list[dict[str, Any]]:
    """Model predictions in the COCO results format (image_id, category_id, bbox, score)."""
    category_id = {c.name: c.id for c in labels.categories}
    return [{"image_id": image.id, "category_id": category_id[box.category], "bbox": list(box.bbox),
             "score": box.score}
            for image in labels.images for box in image.boxes if box.score is not None]


def _info(images_dir: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"description": "exported by detector-app", "version": __version__, "year": now.year,
            "date_created": now.isoformat(timespec="seconds"), "contributor": "detector-app",
            "images_dir": images_dir}
