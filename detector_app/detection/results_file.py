"""COCO results-style JSON for a detection run, plus the image list it refers to.

``results.json`` is a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` (what
pycocotools' ``loadRes`` reads), plus ``"track_id"`` (an int, or null for a box no track holds yet) when
the run tracks objects. ``results.images.json`` beside it maps each image id to its file or video
frame, in COCO's ``images``/``categories`` layout, so ``COCO(results.images.json).loadRes(results.json)`` works.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from detector_app.core.detections import Detections
from detector_app.sources.base import Frame


def file_map_path(results_path: Path) -> Path:
    return results_path.with_name(f"{results_path.stem}.images.json")


class ResultsWriter:
    """Collects detections frame by frame; ``write()`` can be called at any point (e.g. after Ctrl-C)."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = tuple(class_names)
        self.images: list[dict[str, object]] = []
        self.results: list[dict[str, object]] = []

    def add(self, frame: Frame, detections: Detections, track_ids: Sequence[int | None] | None = None) -> int:
        """Record one frame and its detections (and their track ids); returns the image id (1, 2, ...)."""
        image_id = len(self.images) + 1
        self.images.append({
            "id": image_id,
            "file_name": frame.origin if frame.kind == "webcam" else os.path.abspath(frame.origin),
            "frame_index": frame.index,
            "timestamp": round(frame.timestamp, 4),
            "kind": frame.kind,
            "width": frame.width,
            "height": frame.height,
        })
        for i, ((x, y, w, h), score, label) in enumerate(zip(detections.xywh, detections.scores, detections.labels,
                                                               strict=True)):
            result: dict[str, object] = {
                "image_id": image_id,
                "category_id": int(label),
                "bbox": [round(float(v), 2) for v in (x, y, w, h)],
                "score": round(float(score), 5),
            }
            if track_ids is not None:
                result["track_id"] = track_ids[i]
            self.results.append(result)
        return image_id

    def write(self, path: Path) -> tuple[Path, Path]:
        """Write results and the file map atomically; returns both paths."""
        path = Path(path)
        categories = [{"id": i, "name": n} for i, n in enumerate(self.class_names) if i > 0]
        file_map = {"images": self.images, "categories": categories, "annotations": []}
        _write_json(path, self.results)
        map_path = file_map_path(path)
        _write_json(map_path, file_map)
        return path, map_path


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)
