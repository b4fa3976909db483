"""labelme's own ``LabelFile`` and Datumaro read our labelme, CVAT, VOC and COCO exports back with every box; and
we import what labelme's ``LabelFile.save`` and Datumaro's CVAT exporter write, splits kept.

Runs the scripts in ``tests/peer_readers/`` in the peer venv (``tests/peers.py`` builds it on first use).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector_app.storage import Project
from detector_app.transfer.exporting import export_labels
from detector_app.transfer.importing import import_coco, import_labels

from .peers import run_reader

pytestmark = pytest.mark.usefixtures("fresh_plugins")

SPLITS = {"train": 29, "val": 6, "test": 3}  # of the 38 coco-tiny images


def export_with_splits(coco_tiny: Path, work: Path, formats: tuple[str, ...], copy_images: bool = True) -> dict:
    """coco-tiny in a project, 6 images in val and 3 in test, exported in each format into work/<format>;
    returns the original COCO data."""
    with Project.open(work / "p") as project:
        import_coco(project.repo, coco_tiny / "instances.json", coco_tiny / "images")
        ids = project.repo.image_ids()
        project.repo.set_split(ids[:29], "train")
        project.repo.set_split(ids[29:35], "val")
        project.repo.set_split(ids[35:], "test")
        for fmt in formats:
            export_labels(project.repo, fmt, work / fmt, scope="all", copy_images=copy_images)
    return json.loads((coco_tiny / "instances.json").read_text())


@pytest.mark.parametrize("copy_images", [True, False], ids=["copied", "images-in-place"])
def test_labelme_loads_every_json_of_our_export(shared_data: Path, tmp_path: Path, copy_images: bool) -> None:
    original = export_with_splits(shared_data / "coco-tiny", tmp_path, ("labelme",), copy_images)

    found = run_reader("read_labelme.py", tmp_path / "labelme")

    assert found["failed"] == []
    assert found["files"] == found["images"] == 38  # every JSON loaded, with the image its imagePath names
    assert found["shapes"] == {"rectangle": len(original["annotations"])}
    names = {c["id"]: c["name"] for c in original["categories"]}
    assert found["labels"] == dict(Counter(names[a["category_id"]] for a in original["annotations"]))
    folders = Counter(p.parent.name for p in (tmp_path / "labelme").rglob("*.json") if not p.name.startswith("."))
    assert folders == SPLITS


def datumaro_coco_layout(export: Path, work: Path) -> Path:
    """Our COCO export where Datumaro's coco_instances looks: annotations/instances_default.json (the same bytes)
    and images/default/ (a link to the exported images). Datumaro finds a COCO file only by that layout."""
    root = work / "coco-datumaro"
    (root / "annotations").mkdir(parents=True)
    shutil.copyfile(export / "instances.json", root / "annotations" / "instances_default.json")
    (root / "images").mkdir()
    os.symlink(export / "images", root / "images" / "default")
    return root


def test_datumaro_imports_our_cvat_voc_and_coco_exports(shared_data: Path, tmp_path: Path) -> None:
    original = export_with_splits(shared_data / "coco-tiny", tmp_path, ("cvat", "voc", "coco"))
    boxes, crowd = len(original["annotations"]), sum(a["iscrowd"] for a in original["annotations"])
    names = [c["name"] for c in sorted(original["categories"], key=lambda c: c["id"])]

    cvat = run_reader("read_datumaro.py", "cvat", tmp_path / "cvat")
    voc = run_reader("read_datumaro.py", "voc_detection", tmp_path / "voc")
    coco = run_reader("read_datumaro.py", "coco_instances", datumaro_coco_layout(tmp_path / "coco", tmp_path))

    for found in (cvat, voc, coco):
        assert (found["items"], found["boxes"], found["crowd"]) == (38, boxes, crowd), found["format"]
        assert found["labels"] == names, found["format"]
    assert cvat["items_by_subset"] == {"Train": 29, "Validation": 6, "Test": 3}  # a project export's subsets
    assert voc["items_by_subset"] == SPLITS  # ImageSets/Main/<split>.txt


def test_we_import_what_datumaro_writes_as_cvat(shared_data: Path, tmp_path: Path) -> None:
    """Datumaro reads our VOC export and writes it as CVAT (one <subset>.xml per subset, all images in images/);
    each imports into one project with its boxes, in the split its file names."""
    original = export_with_splits(shared_data / "coco-tiny", tmp_path, ("voc",))
    run_reader("read_datumaro.py", "voc_detection", tmp_path / "voc", "--convert-to", "cvat", tmp_path / "theirs")
    xml_files = sorted((tmp_path / "theirs").glob("*.xml"))
    assert [p.stem for p in xml_files] == ["test", "train", "val"]

    with Project.open(tmp_path / "mine") as project:
        added = sum(import_labels(project.repo, "cvat", xml).annotations_added for xml in xml_files)
        assert added == len(original["annotations"])
        assert project.repo.split_counts() == {**SPLITS, None: 0}


def test_we_import_what_labelme_saves(tmp_path: Path) -> None:
    """Files written by labelme's own ``LabelFile.save`` (one with the image embedded, as labelme does by
    default), JSONs in train/ and val/ beside their images, one referring to its image with ``..``."""
    data = tmp_path / "data"
    for rel in ("train/a.jpg", "val/b.png", "photos/c.png"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(data / rel)
    spec = [
        {"json": str(data / "train" / "a.json"), "image": "a.jpg", "embed": True, "shapes": [
            {"label": "cat", "points": [[4, 5], [30, 40]], "shape_type": "rectangle"},
            {"label": "dog", "points": [[1, 1], [20, 3], [9, 30]], "shape_type": "polygon"},
            {"label": "dog", "points": [[50, 20], [55, 20]], "shape_type": "circle"}]},
        {"json": str(data / "val" / "b.json"), "image": "b.png", "shapes": []},
        {"json": str(data / "train" / "c.json"), "image": "../photos/c.png", "shapes": [
            {"label": "bird", "points": [[10, 10], [2, 2]], "shape_type": "rectangle"}]},
    ]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert len(run_reader("write_labelme.py", tmp_path / "spec.json")["written"]) == 3

    with Project.open(tmp_path / "project") as project:
        report = import_labels(project.repo, "labelme", data)
        assert (report.images_added, report.annotations_added) == (3, 3)
        assert "1 polygons imported as their bounding boxes" in report.summary()
        assert "1 shapes that are not boxes skipped (1 circle)" in report.summary()
        assert [c.name for c in project.repo.categories()] == ["cat", "dog", "bird"]
        assert project.repo.split_counts() == {"train": 2, "val": 1, "test": 0, None: 0}
