"""The COCO codec: ``instances.json`` <-> :class:`LabelSet`. Pure: no database, no Qt.

Reading validates everything first (``coco_validate``) and raises one ``CocoValidationError`` naming the
problems; writing returns the dataset dict, which the export step serialises. Ids from the file are kept
(``Category.id``, ``LabelledImage.id``, ``Box.id``) so that exporting gives them back.

Video frames (COCO-VID style, extra keys readers ignore): a frame's image entry has ``video_id`` (numbered
per export, the video's file name listed in a top-level ``videos``) and ``frame_id`` (its 0-based index in the
video); a box on an object track has ``track_id``.

Splits: an image in a split (train, val, test) carries it as an extra ``"split"`` key of its entry in
``images``; COCO has no such field, and readers (pycocotools, Datumaro) ignore keys they do not know. An image
without one has no split. A value that is not a split is kept for the label-set check, which refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from detector_app import __version__
from detector_app.core.labels import SPLITS, Box, Category, LabelledImage, LabelSet, Origin, Split, Status
from detector_app.core.names import printable
from detector_app.errors import ImportValidationError
from detector_app.formats.coco_validate import CocoValidationError, load_coco_json, validate_coco
from detector_app.formats.images import copy_images as copy_images_into

DATASET_FILE = "instances.json"
RESULTS_FILE = "results.json"
IMAGES_DIR = "images"


def read_coco(json_path: str | Path, images_dir: str | Path) -> LabelSet:
    """A validated label set from a COCO ``instances`` file whose ``file_name``s are relative to
    ``images_dir``. Boxes are human labels (status accepted), as a person made them."""
    json_path, images_dir = Path(json_path), Path(images_dir)
    return label_set_from_coco(read_coco_data(json_path, images_dir), images_dir)


def read_coco_data(json_path: Path, images_dir: Path,
                   images_valid: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The parsed COCO dict of ``json_path`` once :func:`validate_coco` accepts it with ``images_dir``; raises
    ``CocoValidationError`` naming the problems otherwise. ``images_valid``: as for :func:`validate_coco`."""
    if not _is_dir(images_dir):
        raise CocoValidationError(str(json_path), [f"image folder {printable(images_dir)} not found"])
    data = load_coco_json(json_path)
    problems = validate_coco(data, images_dir, images_valid)
    if problems:
        raise CocoValidationError(str(json_path), problems)
    return data


def image_paths(data: dict[str, Any], images_dir: Path) -> list[Path]:
    """Each image's file, in the order of ``images``, in a dict :func:`validate_coco` accepted with
    ``images_dir`` (so every name is confined to it)."""
    return [images_dir / entry["file_name"].replace("\\", "/") for entry in data["images"]]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL, no permission: not a folder we can use
        return False


def label_set_from_coco(data: dict[str, Any], images_dir: Path, paths: Sequence[Path] | None = None) -> LabelSet:
    """A label set from a COCO dict that :func:`validate_coco` accepted with the same ``images_dir`` (every
    file name confined to it there); ``paths``: its :func:`image_paths`, when the caller has them already."""
    names = {c["id"]: c["name"].strip() for c in data["categories"]}
    categories = tuple(Category(names[c["id"]], c["id"], c.get("supercategory") or "") for c in data["categories"])
    boxes: dict[int, list[Box]] = {}
    accepted, human = Status.ACCEPTED, Origin.HUMAN  # looked up once, not per box (1,000,000 of them)
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]  # validate_coco checked four numbers
        track = a.get("track_id")  # COCO-VID: kept when it is a whole number
        box = Box.of(names[a["category_id"]], (float(x), float(y), float(w), float(h)), int(a.get("iscrowd", 0)),
                     None, accepted, human, a["id"], track if type(track) is int else None)
        if (image_id := a["image_id"]) in boxes:
            boxes[image_id].append(box)
        else:
            boxes[image_id] = [box]
    images = []
    for entry, path in zip(data["images"], image_paths(data, images_dir) if paths is None else paths, strict=True):
        split = entry.get("split")
        images.append(LabelledImage(entry["file_name"].replace("\\", "/"), entry["width"], entry["height"],
                                    tuple(boxes.get(entry["id"], ())), path, entry["id"],
                                    split=Split(split) if isinstance(split, str) and split in SPLITS else split))
    return LabelSet(categories, tuple(images), images_dir)


def coco_dataset(labels: LabelSet, images_dir: str) -> dict[str, Any]:
    """The COCO ``instances`` dict of ``labels``; every image, box and category must carry its id.

    ``images_dir`` is recorded in ``info.images_dir``: the folder ``file_name``s are relative to.
    """
    category_id = {c.name: c.id for c in labels.categories}
    images, annotations = [], []
    videos: dict[str, int] = {}  # video path -> COCO-VID video id, numbered in order of appearance
    for image in labels.images:
        entry = {"id": image.id, "file_name": image.file_name, "width": image.width, "height": image.height}
        if image.split is not None:
            entry["split"] = str(image.split)
        if image.video_path is not None and image.frame_index is not None:
            entry["video_id"] = videos.setdefault(str(image.video_path), len(videos) + 1)
            entry["frame_id"] = image.frame_index
        images.append(entry)
        image_id = image.id
        for box in image.boxes:
            x, y, w, h = box.bbox
            ann = {"id": box.id, "image_id": image_id, "category_id": category_id[box.category], "bbox": [x, y, w, h],
                   "area": w * h, "iscrowd": box.iscrowd, "segmentation": []}
            if box.track_id is not None:
                ann["track_id"] = box.track_id
            annotations.append(ann)
    extra = {"videos": [{"id": i, "name": Path(p).name} for p, i in videos.items()]} if videos else {}
    return {
        "info": _info(images_dir),
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in labels.categories],
        **extra,
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


def write_json(path: Path, data: Any) -> None:
    # orjson: 10x faster than json.dumps on 100k annotations (UTF-8, compact). It would write a NaN as null,
    # but the label set's rows were checked to be finite before they got here (storage.label_export).
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))


class CocoCodec:
    """The built-in format: ``instances.json`` (+ ``images/`` with ``copy_images``)."""

    name = "coco"
    description = "COCO instances JSON (+ images/ with --copy-images)"
    error = CocoValidationError  # problems found after reading (image files) keep COCO's message

    def write(self, labels: LabelSet, out_dir: Path, copy_images: bool) -> Path:
        if copy_images:
            labels = copy_images_into(labels, out_dir / IMAGES_DIR)
            images_dir = IMAGES_DIR
        else:
            labels = labels.relative_to_common_folder()
            images_dir = (labels.images_dir or Path(".")).as_posix()
        target = out_dir / DATASET_FILE
        write_json(target, coco_dataset(labels, images_dir))
        return target

    def can_read(self) -> bool:
        return True

    def read(self, path: Path, images_dir: Path | None) -> LabelSet:
        if images_dir is None:
            raise ImportValidationError("COCO import needs the image folder (--images DIR)")
        return read_coco(path, images_dir)
