"""Helpers shared by the storage and COCO tests: tiny image files, datasets, database dumps."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from detector_app.core.detections import Detections

CLASSES = ("__background__", "cat", "dog", "bird")


def write_image(path: Path, width: int = 64, height: int = 48, color: int = 0, exif_orientation: int | None = None,
                ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (width, height), (color % 256, 40, 90))
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(path, exif=exif)
    else:
        image.save(path)
    return path


def detections(boxes: list[tuple[float, float, float, float]], labels: list[int],
               scores: list[float] | None = None, class_names: tuple[str, ...] = CLASSES) -> Detections:
    """Detections from xyxy boxes."""
    scores = scores if scores is not None else [0.9] * len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores), np.array(labels), class_names)


def small_dataset(folder: Path, n_images: int = 3, boxes_per_image: int = 2) -> tuple[Path, Path]:
    """A valid COCO file plus its image folder, with a crowd box and ids that do not start at 1."""
    images_dir = folder / "images"
    data: dict[str, Any] = {
        "info": {"description": "test set"},
        "licenses": [],
        "images": [],
        "annotations": [],
        "categories": [{"id": 3, "name": "cat", "supercategory": "animal"},
                       {"id": 7, "name": "dog", "supercategory": "animal"}],
    }
    ann_id = 500
    for i in range(n_images):
        name = f"img_{i}.png"
        write_image(images_dir / name, 80, 60, color=i)
        data["images"].append({"id": 100 + i, "file_name": name, "width": 80, "height": 60})
        for j in range(boxes_per_image):
            data["annotations"].append({
                "id": ann_id, "image_id": 100 + i, "category_id": 3 if j % 2 == 0 else 7,
                "bbox": [1.5 + j, 2.25, 10.125, 20.5], "area": 10.125 * 20.5, "iscrowd": 1 if ann_id == 501 else 0,
                "segmentation": [],
            })
            ann_id += 1
    json_path = folder / "instances.json"
    json_path.write_text(json.dumps(data))
    return json_path, images_dir


def dump_database(db_path: Path) -> list[str]:
    """Every table's rows (and the schema) as SQL text: equal dumps mean an unchanged database."""
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
