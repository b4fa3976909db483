"""The shipped labelme plugin: the COCO round trip scored by pycocotools, the files it writes, and folders laid
out the way labelme itself saves them (relative imagePaths, polygons, other shapes, labels.txt, split folders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector_app.cli.main import main
from detector_app.errors import ImportValidationError
from detector_app.storage import Project
from detector_app.transfer.exporting import export_coco, export_labels
from detector_app.transfer.formats import format_names
from detector_app.transfer.importing import import_coco, import_labels

from .test_plugins_formats import coco_ap

pytestmark = pytest.mark.usefixtures("fresh_plugins")


def round_trip(fmt: str, coco_tiny: Path, work: Path, copy_images: bool) -> tuple[dict, str]:
    """COCO -> project -> FORMAT -> fresh project -> COCO; the final COCO dataset and the import report."""
    with Project.open(work / "first") as project:
        import_coco(project.repo, coco_tiny / "instances.json", coco_tiny / "images")
        export_labels(project.repo, fmt, work / fmt, scope="all", copy_images=copy_images)
    with Project.open(work / "second") as project:
        report = import_labels(project.repo, fmt, work / fmt, None if copy_images else coco_tiny / "images")
        assert report.images_added == 38
        export_coco(project.repo, work / "final", scope="all")
    return json.loads((work / "final" / "instances.json").read_text()), report.summary()


@pytest.mark.parametrize("copy_images", [False, True], ids=["images-in-place", "copied"])
def test_round_trip_scores_ap_1_and_keeps_crowd(shared_data: Path, tmp_path: Path, copy_images: bool) -> None:
    coco_tiny = shared_data / "coco-tiny"
    original = json.loads((coco_tiny / "instances.json").read_text())

    final, report = round_trip("labelme", coco_tiny, tmp_path, copy_images)

    assert len(final["annotations"]) == len(original["annotations"]) == 424
    crowd = sum(a["iscrowd"] for a in original["annotations"])
    assert crowd == 5 and sum(a["iscrowd"] for a in final["annotations"]) == crowd  # the shape flag "crowd"
    assert "polygons" not in report and "skipped" not in report  # rectangles only: nothing changed on the way
    assert [c["name"] for c in final["categories"]] == [c["name"] for c in original["categories"]]  # labels.txt
    assert coco_ap(coco_tiny / "instances.json", tmp_path / "final" / "instances.json") == 1.0


def make_project(root: Path) -> tuple[Project, Path]:
    """Three images (one in a subfolder, one without boxes), a crowd box, an unused class and two splits."""
    images = root / "images"
    (images / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(images / "a.png")
    Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(images / "sub" / "b.jpg")
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(images / "empty.png")
    project = Project.open(root / "project")
    repo = project.repo
    a, b = repo.add_image(images / "a.png"), repo.add_image(images / "sub" / "b.jpg")
    empty = repo.add_image(images / "empty.png")
    repo.ensure_category("unused")
    repo.add_annotation(a.id, "cat", (10, 20, 50, 40.25))
    repo.add_annotation(b.id, "crowd", (1, 1, 20, 20), iscrowd=1)
    repo.set_split([a.id], "train")
    repo.set_split([empty.id], "val")
    return project, images


def test_files_are_labelme_rectangles_with_splits_as_folders(tmp_path: Path) -> None:
    project, images = make_project(tmp_path)
    with project:
        export_labels(project.repo, "labelme", tmp_path / "out", scope="all")
        export_labels(project.repo, "labelme", tmp_path / "copied", scope="all", copy_images=True)
    out = tmp_path / "out"
    a = json.loads((out / "train" / "a.json").read_text())
    assert a == {"version": "5.5.0", "flags": {}, "imagePath": str(images / "a.png"), "imageData": None,
                 "imageHeight": 100, "imageWidth": 200,
                 "shapes": [{"label": "cat", "points": [[10.0, 20.0], [60.0, 60.25]], "group_id": None,
                             "description": "", "shape_type": "rectangle", "flags": {}, "mask": None}]}
    b = json.loads((out / "sub" / "b.json").read_text())
    assert b["shapes"][0]["flags"] == {"crowd": True} and b["imageWidth"] == 80
    assert json.loads((out / "val" / "empty.json").read_text())["shapes"] == []  # still a labelled image
    assert (out / "labels.txt").read_text().split("\n")[:-1] == ["unused", "cat", "crowd"]
    # Copied: each image beside its JSON (in its split's folder), imagePath its bare name, as labelme saves.
    copied = tmp_path / "copied"
    assert sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()
                  and not p.name.startswith(".")) == ["b.jpg", "b.json", "labels.txt", "train/a.json", "train/a.png",
                                                      "val/empty.json", "val/empty.png"]
    assert json.loads((copied / "train" / "a.json").read_text())["imagePath"] == "a.png"

    with Project.open(tmp_path / "again") as again:
        report = import_labels(again.repo, "labelme", copied)
        assert report.annotations_added == 2 and report.images_added == 3
        assert again.repo.split_counts() == {"train": 1, "val": 1, "test": 0, None: 1}
        assert [c.name for c in again.repo.categories()][:3] == ["unused", "cat", "crowd"]


def labelme_shape(label: str, kind: str | None, points: list[list[float]], **extra: object) -> dict:
    shape = {"label": label, "points": points, "group_id": None, "description": "", "flags": {}, **extra}
    if kind is not None:
        shape["shape_type"] = kind
    return shape


def labelme_folder(root: Path) -> Path:
    """A dataset as labelme's GUI leaves it: train/ and val/ folders of images with a JSON beside each (the
    JSON saved elsewhere refers back with ``..``), a Windows-made file with backslashes, a labels.txt with
    labelme's two special lines, polygons, circles, lines and points."""
    data = root / "dataset"
    for rel, size in (("train/a.jpg", (120, 90)), ("images/b.png", (64, 48)), ("val/c.png", (40, 30))):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8)).save(data / rel)
    files = {
        "train/a.json": ("a.jpg", 120, 90, [
            labelme_shape("dog", "rectangle", [[50, 60], [10, 5]]),  # corners in any order, as labelme allows
            labelme_shape("person", "polygon", [[1, 2], [30, 4], [20, 40.5]]),
            labelme_shape("person", None, [[60, 10], [70, 10], [65, 30]]),  # no shape_type: a polygon
            labelme_shape("ball", "circle", [[80, 50], [85, 50]]),
            labelme_shape("edge", "line", [[0, 0], [10, 10]]),
            labelme_shape("nose", "point", [[5, 5]]),
        ]),
        "train/b.json": ("..\\images\\b.png", 64, 48, [labelme_shape("dog", "rectangle", [[1, 1], [20, 20]])]),
        "val/c.json": ("c.png", 40, 30, []),
    }
    for rel, (image_path, width, height, shapes) in files.items():
        (data / rel).write_text(json.dumps({"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
                                            "imageData": None, "imageHeight": height, "imageWidth": width}))
    (data / "labels.txt").write_text("__ignore__\n_background_\nperson\ndog\ncat\n")
    return data


def test_importing_a_folder_labelme_wrote(tmp_path: Path) -> None:
    data = labelme_folder(tmp_path)
    with Project.open(tmp_path / "project") as project:
        report = import_labels(project.repo, "labelme", data)
        repo = project.repo
        assert report.images_added == 3 and report.annotations_added == 4
        summary = report.summary()
        assert "2 polygons imported as their bounding boxes" in summary
        assert "3 shapes that are not boxes skipped (1 circle, 1 line, 1 point)" in summary
        assert [c.name for c in repo.categories()] == ["person", "dog", "cat"]  # labels.txt order, specials out
        assert repo.split_counts() == {"train": 2, "val": 1, "test": 0, None: 0}
        a = repo.find_image(data / "train" / "a.jpg")
        boxes = sorted((b.category_name, tuple(b.bbox)) for b in repo.annotations_for_image(a.id))
        assert boxes == [("dog", (10.0, 5.0, 40.0, 55.0)), ("person", (1.0, 2.0, 29.0, 38.5)),
                         ("person", (60.0, 10.0, 10.0, 20.0))]
        assert repo.find_image(data / "images" / "b.png") is not None  # "..\\images\\b.png" from train/


def test_a_bad_file_in_the_folder_changes_nothing(tmp_path: Path) -> None:
    data = labelme_folder(tmp_path)
    (data / "val" / "c.json").write_text('{"shapes": [{"label": "cat", "shape_type": "rectangle", '
                                         '"points": [[1, 1], [NaN, 5]]}], "imagePath": "c.png"}')
    with Project.open(tmp_path / "project") as project:
        with pytest.raises(ImportValidationError, match=r"val/c.json: NaN is not a number JSON allows"):
            import_labels(project.repo, "labelme", data)
        assert project.repo.count_annotations() == 0 and project.repo.categories() == []


def test_offered_for_import_and_export_on_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert {"labelme", "cvat"} <= set(format_names("import")) & set(format_names("export"))
    project, _images = make_project(tmp_path)
    project.close()
    assert main(["export", "labelme", str(tmp_path / "out"), "--scope", "all", "--project", str(tmp_path / "project")]) == 0
    assert main(["import", "labelme", str(tmp_path / "out"), "--images", str(tmp_path / "images"),
                 "--project", str(tmp_path / "fresh")]) == 0
    assert "imported 2 boxes on 3 images (3 new)" in capsys.readouterr().out


def test_images_with_the_same_stem_get_a_json_each(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(images / "x.png")
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(images / "x.jpg")
    with Project.open(tmp_path / "project") as project:
        for name, box in (("x.png", (1, 1, 5, 5)), ("x.jpg", (2, 2, 9, 9))):
            project.repo.add_annotation(project.repo.add_image(images / name).id, "cat", box)
        export_labels(project.repo, "labelme", tmp_path / "out", scope="all", copy_images=True)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("x*.json")) == ["x.jpg.json", "x.json"]
    with Project.open(tmp_path / "again") as again:
        assert import_labels(again.repo, "labelme", out).annotations_added == 2
        jpg = again.repo.find_image(out / "x.jpg")
        assert [tuple(b.bbox) for b in again.repo.annotations_for_image(jpg.id)] == [(2.0, 2.0, 9.0, 9.0)]
