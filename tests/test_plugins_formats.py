"""The shipped YOLO and VOC plugins: round trips through real COCO data scored by pycocotools, and the
details of each format (coordinates, class files, crowd boxes, bad files changing nothing)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector_app.errors import ImportValidationError
from detector_app.plugins_api import PluginError, PluginManager, reset_manager
from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco, export_labels
from detector_app.transfer.importing import import_coco, import_labels

pytestmark = pytest.mark.usefixtures("fresh_plugins")


def coco_ap(original: Path, exported: Path) -> float:
    """AP (IoU .50:.95) of an exported dataset's boxes, read as detections with score 1, against the original.

    Images are matched by file name and categories by name, since both get new ids in a new project.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(original))
    data = json.loads(exported.read_text())
    image_id = {i["file_name"]: i["id"] for i in gt.dataset["images"]}
    category_id = {c["name"]: c["id"] for c in gt.dataset["categories"]}
    names = {c["id"]: c["name"] for c in data["categories"]}
    files = {i["id"]: Path(i["file_name"]).name for i in data["images"]}
    results = [{"image_id": image_id[files[a["image_id"]]], "category_id": category_id[names[a["category_id"]]],
                "bbox": a["bbox"], "score": 1.0} for a in data["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


SPLITS_SET = {"val": [2, 5, 9, 11, 30], "test": [7, 20]}  # by import order; the rest stay without a split


def round_trip(fmt: str, coco_tiny: Path, work: Path) -> dict:
    """COCO -> project (some images put in val and test) -> FORMAT -> fresh project -> COCO; returns the final
    COCO dataset. YOLO copies the images (Ultralytics pairs labels by path), so it is read back from its own
    folder; VOC without copies, with the original image folder."""
    with Project.open(work / "first") as project:
        import_coco(project.repo, coco_tiny / "instances.json", coco_tiny / "images")
        ids = [i.id for i in project.repo.list_images(limit=100)]
        for split, positions in SPLITS_SET.items():
            project.repo.set_split([ids[p] for p in positions], split)
        export_labels(project.repo, fmt, work / fmt, scope="all")
    with Project.open(work / "second") as project:
        source = work / fmt / "instances.json" if fmt == "coco" else work / fmt
        report = import_labels(project.repo, fmt, source, None if fmt == "yolo" else coco_tiny / "images")
        assert report.images_added == 38
        export_coco(project.repo, work / "final", scope="all")
    return json.loads((work / "final" / "instances.json").read_text())


def splits_of(dataset: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for image in dataset["images"]:
        out.setdefault(image.get("split", "none"), []).append(Path(image["file_name"]).name)
    return {k: sorted(v) for k, v in out.items()}


def test_yolo_round_trip_scores_ap_1_keeps_splits_and_reports_crowd(shared_data: Path, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    coco_tiny = shared_data / "coco-tiny"
    original = json.loads((coco_tiny / "instances.json").read_text())
    names = [i["file_name"] for i in original["images"]]

    with caplog.at_level(logging.WARNING):
        final = round_trip("yolo", coco_tiny, tmp_path)

    crowd = sum(a["iscrowd"] for a in original["annotations"])
    assert crowd == 5  # YOLO has no crowd flag: those boxes are left out by design, and said so
    assert "YOLO export left out 5 crowd box(es): YOLO has no crowd flag" in caplog.text
    assert len(final["annotations"]) == len(original["annotations"]) - crowd
    assert {Path(i["file_name"]).name for i in final["images"]} == set(names)
    # Images without a split went to train, the others kept theirs.
    assert splits_of(final) == {"val": sorted(names[p] for p in SPLITS_SET["val"]),
                                "test": sorted(names[p] for p in SPLITS_SET["test"]),
                                "train": sorted(set(names) - {names[p] for ps in SPLITS_SET.values() for p in ps})}
    assert coco_ap(coco_tiny / "instances.json", tmp_path / "final" / "instances.json") == 1.0


def test_voc_round_trip_scores_ap_1_keeps_crowd_as_difficult_and_splits(shared_data: Path, tmp_path: Path) -> None:
    coco_tiny = shared_data / "coco-tiny"
    original = json.loads((coco_tiny / "instances.json").read_text())
    names = [i["file_name"] for i in original["images"]]

    final = round_trip("voc", coco_tiny, tmp_path)

    assert len(final["annotations"]) == len(original["annotations"])
    assert sum(a["iscrowd"] for a in final["annotations"]) == sum(a["iscrowd"] for a in original["annotations"])
    assert coco_ap(coco_tiny / "instances.json", tmp_path / "final" / "instances.json") == 1.0
    image_sets = tmp_path / "voc" / "ImageSets" / "Main"
    assert sorted(p.name for p in image_sets.iterdir()) == ["default.txt", "test.txt", "val.txt"]
    assert sorted(image_sets.joinpath("val.txt").read_text().split()) == sorted(
        Path(names[p]).stem for p in SPLITS_SET["val"])
    assert len(image_sets.joinpath("default.txt").read_text().split()) == 38 - 7  # each id in one list only
    assert splits_of(final) == {"val": sorted(names[p] for p in SPLITS_SET["val"]),
                                "test": sorted(names[p] for p in SPLITS_SET["test"]),
                                "none": sorted(set(names) - {names[p] for ps in SPLITS_SET.values() for p in ps})}


def test_coco_keeps_a_split_as_an_extra_image_key_that_pycocotools_ignores(shared_data: Path,
                                                                            tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    coco_tiny = shared_data / "coco-tiny"
    final = round_trip("coco", coco_tiny, tmp_path)
    assert sorted(splits_of(final)) == ["none", "test", "val"]
    assert len(splits_of(final)["val"]) == 5
    with contextlib.redirect_stdout(io.StringIO()):
        assert len(COCO(str(tmp_path / "final" / "instances.json")).getImgIds()) == 38
    assert coco_ap(coco_tiny / "instances.json", tmp_path / "final" / "instances.json") == 1.0


def make_project(root: Path) -> tuple[Project, Path]:
    """A project with two images (one in a subfolder, one with no boxes) and known boxes."""
    images = root / "images"
    (images / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(images / "a.png")
    Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(images / "sub" / "b.jpg")
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(images / "empty.png")
    project = Project.open(root / "project")
    repo = project.repo
    a = repo.add_image(images / "a.png")
    b = repo.add_image(images / "sub" / "b.jpg")
    repo.add_image(images / "empty.png")
    repo.ensure_category("unused")
    repo.add_annotation(a.id, "cat", (10, 20, 50, 40))
    repo.add_annotation(a.id, "dog", (150.5, 0, 49.5, 100))
    repo.add_annotation(b.id, "cat", (-2, 5, 30, 10))  # sticks out on the left: clipped in YOLO
    repo.add_annotation(b.id, "crowd", (1, 1, 20, 20), iscrowd=1)
    return project, images


def test_yolo_files_hold_normalised_centre_boxes(tmp_path: Path) -> None:
    project, images = make_project(tmp_path)
    with project:
        yaml_path = export_labels(project.repo, "yolo", tmp_path / "out", scope="all")
    out = tmp_path / "out"
    classes = (out / "classes.txt").read_text().split("\n")[:-1]
    assert classes == ["unused", "cat", "dog", "crowd"]
    assert yaml_path == out / "data.yaml"
    assert "names:\n  0: unused\n  1: cat\n  2: dog\n  3: crowd\n" in yaml_path.read_text()
    labels = out / "labels" / "train"
    rows = [line.split() for line in (labels / "a.txt").read_text().splitlines()]
    assert rows == [["1", "0.175000", "0.400000", "0.250000", "0.400000"],
                    ["2", "0.876250", "0.500000", "0.247500", "1.000000"]]
    b_rows = [line.split() for line in (labels / "b.txt").read_text().splitlines()]
    assert b_rows == [["1", f"{14 / 80:.6f}", "0.200000", f"{28 / 80:.6f}", "0.200000"]]  # clipped, no crowd
    assert (labels / "empty.txt").read_text() == ""
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == ["a.png", "b.jpg", "empty.png"]


def test_yolo_import_reads_classes_from_data_yaml_and_rejects_bad_lines(tmp_path: Path) -> None:
    project, images = make_project(tmp_path)
    dataset = tmp_path / "dataset"
    (dataset / "labels").mkdir(parents=True)
    (dataset / "data.yaml").write_text("path: .\nnames:\n  0: person\n  1: 'traffic light'\n")
    (dataset / "labels" / "a.txt").write_text("1 0.5 0.5 0.5 0.5\n0 0.1 0.1 0.3 0.1 0.3 0.3\n")
    with Project.open(tmp_path / "fresh") as fresh:
        report = import_labels(fresh.repo, "yolo", dataset / "data.yaml", images)
        image = fresh.repo.find_image(images / "a.png")
        boxes = sorted((b.category_name, tuple(round(v, 3) for v in b.bbox))
                       for b in fresh.repo.annotations_for_image(image.id))
        assert report.annotations_added == 2
        assert boxes == [("person", (20.0, 10.0, 40.0, 20.0)), ("traffic light", (50.0, 25.0, 100.0, 50.0))]
        (dataset / "labels" / "sub").mkdir()
        (dataset / "labels" / "sub" / "b.txt").write_text("7 0.5 0.5 0.1 0.1\n")
        with pytest.raises(ImportValidationError, match=r"sub/b.txt: line 1: class '7'"):
            import_labels(fresh.repo, "yolo", dataset, images)
        assert fresh.repo.count_annotations() == 2  # the bad file changed nothing
    project.close()


def test_voc_writes_one_based_coordinates_and_difficult_for_crowd(tmp_path: Path) -> None:
    project, _ = make_project(tmp_path)
    with project:
        export_labels(project.repo, "voc", tmp_path / "voc", scope="all")
        export_labels(project.repo, "voc", tmp_path / "copied", scope="all", copy_images=True)
    out = tmp_path / "voc"
    xml = (out / "Annotations" / "sub" / "b.xml").read_text()
    flat = xml.replace("\n", "").replace(" ", "")
    assert "<folder>sub</folder><filename>b.jpg</filename>" in flat
    assert "<xmin>-1</xmin><ymin>6</ymin><xmax>28</xmax><ymax>15</ymax>" in flat
    assert "<name>crowd</name><pose>Unspecified</pose><truncated>0</truncated><difficult>1</difficult>" in flat
    assert (out / "ImageSets" / "Main" / "default.txt").read_text().split() == ["a", "sub/b", "empty"]
    assert (out / "labels.txt").read_text().split("\n")[:-1] == ["unused", "cat", "dog", "crowd"]
    # Copied images sit side by side in JPEGImages (COCO export names them), annotations follow.
    copied = tmp_path / "copied"
    assert sorted(p.name for p in (copied / "JPEGImages").iterdir()) == ["a.png", "b.jpg", "empty.png"]
    assert (copied / "Annotations" / "b.xml").read_text() == xml.replace("<folder>sub</folder>",
                                                                         "<folder>.</folder>")


def test_export_of_a_disabled_plugin_is_refused(tmp_path: Path) -> None:
    project, _ = make_project(tmp_path)
    manager = PluginManager()
    manager.discover()
    manager.set_enabled("yolo", False)
    reset_manager(manager)
    with project, pytest.raises(PluginError, match="disabled; enable it with `detector-app plugins enable yolo`"):
        export_labels(project.repo, "yolo", tmp_path / "out")
    assert not (tmp_path / "out").exists()
