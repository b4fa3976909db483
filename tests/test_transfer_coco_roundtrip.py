"""COCO round trip: import, export, evaluate the export against the original with pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco
from detector_app.transfer.importing import import_coco

from .helpers_storage import small_dataset


def load_quietly(source: str | Path | list[dict[str, Any]], gt: COCO | None = None) -> tuple[COCO, list[str]]:
    """Load a dataset (or results against ``gt``); returns it with every warning raised while loading."""
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        coco = gt.loadRes(source) if gt is not None else COCO(str(source))
    return coco, [str(w.message) for w in caught]


def bbox_ap(gt: COCO, exported: dict[str, Any]) -> list[float]:
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in exported["annotations"]]
    dt, caught = load_quietly(results, gt)
    assert caught == []
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:3]]  # AP, AP50, AP75


def roundtrip(json_path: Path, images_dir: Path, project_dir: Path, out: Path) -> tuple[dict, dict]:
    with Project.open(project_dir) as project:
        report = import_coco(project.repo, json_path, images_dir)
        exported_path = export_coco(project.repo, out)
        assert report.category_ids_changed == {}
    return json.loads(json_path.read_text()), json.loads(exported_path.read_text())


def assert_same_dataset(original: dict, exported: dict) -> None:
    def by_id(entries: list[dict], keys: tuple[str, ...]) -> dict:
        return {e["id"]: tuple(e.get(k, 0) for k in keys) for e in entries}

    image_keys = ("file_name", "width", "height")
    assert by_id(exported["images"], image_keys) == by_id(original["images"], image_keys)
    ann_keys = ("image_id", "category_id", "iscrowd")
    assert by_id(exported["annotations"], ann_keys) == by_id(original["annotations"], ann_keys)
    boxes = {a["id"]: a["bbox"] for a in original["annotations"]}
    assert all(a["bbox"] == boxes[a["id"]] for a in exported["annotations"])  # unrounded, exact
    assert all(a["area"] == a["bbox"][2] * a["bbox"][3] and a["segmentation"] == [] for a in exported["annotations"])
    cat_keys = ("name", "supercategory")
    assert by_id(exported["categories"], cat_keys) == by_id(original["categories"], cat_keys)


def test_coco_tiny_round_trip_scores_ap_1(shared_data: Path, project_dir: Path, tmp_path: Path) -> None:
    source = shared_data / "coco-tiny"
    original, exported = roundtrip(source / "instances.json", source / "images", project_dir, tmp_path / "out")

    assert_same_dataset(original, exported)
    assert sum(a["iscrowd"] for a in exported["annotations"]) == 5
    _, caught = load_quietly(tmp_path / "out" / "instances.json")
    assert caught == []
    gt, _ = load_quietly(source / "instances.json")
    assert bbox_ap(gt, exported) == [1.0, 1.0, 1.0]


def test_synthetic_round_trip_scores_ap_1(tmp_path: Path, project_dir: Path) -> None:
    """The same check on generated data, so machines without ../shared/data still run it."""
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=4, boxes_per_image=3)
    original, exported = roundtrip(json_path, images_dir, project_dir, tmp_path / "out")
    assert_same_dataset(original, exported)
    gt, caught = load_quietly(json_path)
    assert caught == []
    assert bbox_ap(gt, exported)[0] == pytest.approx(1.0)


def test_second_export_is_identical_apart_from_the_date(tmp_path: Path, project_dir: Path) -> None:
    json_path, images_dir = small_dataset(tmp_path / "src")
    with Project.open(project_dir) as project:
        import_coco(project.repo, json_path, images_dir)
        first = json.loads(export_coco(project.repo, tmp_path / "a").read_text())
        second = json.loads(export_coco(project.repo, tmp_path / "b").read_text())
    first.pop("info")
    second.pop("info")
    assert first == second
