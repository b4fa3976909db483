"""The YOLO / Ultralytics codec: its own layout out, any Ultralytics dataset yaml in, splits kept both ways."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from detector_app.core.labels import Split
from detector_app.plugins_api import get_manager
from detector_app.storage import Project
from detector_app.transfer.exporting import export_labels
from detector_app.transfer.importing import import_labels

from .hardening_import_helpers import run_cli


def write_png(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path)
    return path


def coco8_like(root: Path) -> Path:
    """The layout Ultralytics' coco8 ships: a yaml beside the dataset folder, ``path:`` naming it, names as a
    mapping, images/{train,val} with labels/{train,val}; one val image has no label file (a background)."""
    ds = root / "coco8"
    write_png(ds / "images" / "train" / "t1.jpg", 200, 100)
    write_png(ds / "images" / "train" / "t2.png", 80, 40)
    write_png(ds / "images" / "val" / "v1.jpg", 100, 100)
    write_png(ds / "images" / "val" / "v2.jpg", 50, 50)
    (ds / "labels" / "train").mkdir(parents=True)
    (ds / "labels" / "val").mkdir(parents=True)
    (ds / "labels" / "train" / "t1.txt").write_text("0 0.5 0.5 0.5 0.5\n2 0.25 0.25 0.1 0.2\n")
    (ds / "labels" / "train" / "t2.txt").write_text("1 0.5 0.5 1.0 1.0\n")
    (ds / "labels" / "val" / "v1.txt").write_text("2 0.1 0.2 0.1 0.2 0.3 0.4\n")  # a segment: its bounding box
    yaml_file = root / "coco8.yaml"
    yaml_file.write_text("# Ultralytics-style\npath: coco8\ntrain: images/train\nval: images/val\ntest:\n\n"
                         "names:\n  0: person\n  1: bicycle\n  2: traffic light\n")
    return yaml_file


def boxes_by_image(repo) -> dict[str, list[tuple]]:
    out = {}
    for image in repo.list_images(limit=100):
        boxes = repo.annotations_for_image(image.id)
        out[Path(image.path).name] = (image.split, sorted((b.category_name, tuple(round(v, 3) for v in b.bbox))
                                                          for b in boxes))
    return out


def test_import_of_a_coco8_like_dataset_keeps_splits_and_reads_names_as_a_mapping(tmp_path: Path, capsys) -> None:
    yaml_file = coco8_like(tmp_path)
    code, out, err = run_cli(capsys, "import", "yolo", str(yaml_file), "--project", str(tmp_path / "p"))
    assert code == 0, err
    assert "1 image(s) without a label file imported with no boxes" in out
    with Project.open(tmp_path / "p") as project:
        found = boxes_by_image(project.repo)
        assert project.repo.split_counts() == {"train": 2, "val": 2, "test": 0, None: 0}
    assert found == {
        "t1.jpg": ("train", [("person", (50.0, 25.0, 100.0, 50.0)), ("traffic light", (40.0, 15.0, 20.0, 20.0))]),
        "t2.png": ("train", [("bicycle", (0.0, 0.0, 80.0, 40.0))]),
        "v1.jpg": ("val", [("traffic light", (10.0, 20.0, 20.0, 20.0))]),
        "v2.jpg": ("val", []),
    }


def test_the_issue_case_coco8_yaml_inside_the_dataset_with_ultralytics_path_key(tmp_path: Path, capsys) -> None:
    """c8/coco8.yaml as Ultralytics ships it (``path: coco8``, meant for its datasets folder) inside the folder
    holding images/ and labels/: the relative path is no folder there, so the yaml's folder is the root."""
    coco8_like(tmp_path)
    c8 = tmp_path / "coco8"
    (c8 / "coco8.yaml").write_text((tmp_path / "coco8.yaml").read_text())
    code, out, err = run_cli(capsys, "import", "yolo", str(c8 / "coco8.yaml"), "--project", str(tmp_path / "p"))
    assert code == 0, err
    assert "on 4 images (4 new)" in out


def test_import_reads_list_files_lists_of_entries_and_an_absolute_path_inside(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    for name in ("a", "b", "c", "d"):
        write_png(ds / "data" / "images" / f"{name}.png", 40, 20)
        (ds / "data" / "labels").mkdir(parents=True, exist_ok=True)
        (ds / "data" / "labels" / f"{name}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    write_png(ds / "extra" / "images" / "e.png", 40, 20)
    (ds / "lists").mkdir()
    (ds / "lists" / "train.txt").write_text("data/images/a.png\n")  # relative to the root
    (ds / "val.txt").write_text("./data/images/b.png\n\n")
    yaml_file = ds / "custom.yml"
    yaml_file.write_text(f"path: {ds}\ntrain: [lists/train.txt, extra/images]\nval: val.txt\n"
                         "test: data/images\nnames: [thing]\n")
    with Project.open(tmp_path / "p") as project:
        report = import_labels(project.repo, "yolo", ds, None)  # the folder's only yaml
        splits = {Path(i.path).name: i.split for i in project.repo.list_images(limit=100)}
        assert report.images_added == 5
    assert splits == {"a.png": "train", "e.png": "train", "b.png": "val", "c.png": "test", "d.png": "test"}


def test_export_writes_ultralytics_layout_with_splits_and_reports_crowd_boxes(tmp_path: Path, caplog) -> None:
    images = tmp_path / "photos"
    with Project.open(tmp_path / "p") as project:
        repo = project.repo
        ids = {}
        for name, size in (("a.png", (200, 100)), ("b.jpg", (80, 40)), ("c.png", (30, 30)), ("d.png", (64, 64))):
            ids[name] = repo.add_image(write_png(images / name, *size)).id
        repo.add_annotation(ids["a.png"], "cat", (10, 20, 50, 40))
        repo.add_annotation(ids["b.jpg"], "dog", (-2, 5, 30, 10))  # sticks out on the left: clipped
        repo.add_annotation(ids["b.jpg"], "cat", (1, 1, 20, 20), iscrowd=1)
        repo.add_annotation(ids["d.png"], "dog", (0, 0, 32, 32))
        repo.set_split([ids["b.jpg"]], "val")
        repo.set_split([ids["c.png"]], "test")
        with caplog.at_level(logging.WARNING):
            data_yaml = export_labels(repo, "yolo", tmp_path / "out", scope="all")
    out = tmp_path / "out"
    assert "YOLO export left out 1 crowd box(es): YOLO has no crowd flag" in caplog.text
    assert yaml.safe_load(data_yaml.read_text()) == {"train": "images/train", "val": "images/val",
                                                     "test": "images/test", "names": {0: "cat", 1: "dog"}}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*") if p.name != "data.yaml"
                  and not p.name.startswith(".")) == [
        "classes.txt", "images/test/c.png", "images/train/a.png", "images/train/d.png", "images/val/b.jpg",
        "labels/test/c.txt", "labels/train/a.txt", "labels/train/d.txt", "labels/val/b.txt"]
    assert (out / "labels" / "train" / "a.txt").read_text() == "0 0.175000 0.400000 0.250000 0.400000\n"
    assert (out / "labels" / "val" / "b.txt").read_text() == "1 0.175000 0.250000 0.350000 0.250000\n"
    assert (out / "labels" / "test" / "c.txt").read_text() == ""
    assert (images / "a.png").exists()  # copied, the originals stay

    with Project.open(tmp_path / "back") as back:
        import_labels(back.repo, "yolo", data_yaml, None)
        found = boxes_by_image(back.repo)
    assert found == {"a.png": ("train", [("cat", (10.0, 20.0, 50.0, 40.0))]),
                     "b.jpg": ("val", [("dog", (0.0, 5.0, 28.0, 10.0))]),
                     "c.png": ("test", []), "d.png": ("train", [("dog", (0.0, 0.0, 32.0, 32.0))])}


def test_export_without_val_images_still_names_a_val_folder(tmp_path: Path) -> None:
    with Project.open(tmp_path / "p") as project:
        image = project.repo.add_image(write_png(tmp_path / "a.png", 20, 20))
        project.repo.add_annotation(image.id, "cat", (1, 1, 5, 5))
        export_labels(project.repo, "yolo", tmp_path / "out", scope="all")
    assert (tmp_path / "out" / "images" / "val").is_dir()
    assert not (tmp_path / "out" / "images" / "test").exists()
    assert "test" not in yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())


def test_a_folder_of_the_old_flat_layout_still_imports_and_takes_splits_from_folder_names(tmp_path: Path) -> None:
    ds = tmp_path / "flat"
    write_png(ds / "images" / "train" / "a.png", 40, 20)
    write_png(ds / "images" / "b.png", 40, 20)
    (ds / "labels" / "train").mkdir(parents=True)
    (ds / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (ds / "labels" / "b.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (ds / "classes.txt").write_text("cat\ndog\n")
    labels = get_manager().format_plugin("yolo").read(ds, None)
    assert [(i.file_name, i.split, [b.category for b in i.boxes]) for i in labels.images] == [
        ("b.png", None, ["dog"]), ("train/a.png", Split.TRAIN, ["cat"])]


@pytest.mark.parametrize("names", ["[a, b]", "{0: a, 1: b}", "\n  - a\n  - b"])
def test_names_as_a_list_or_a_mapping(tmp_path: Path, names: str) -> None:
    write_png(tmp_path / "images" / "train" / "x.png", 10, 10)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "x.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (tmp_path / "data.yaml").write_text(f"train: images/train\nval: images/train\nnames: {names}\n")
    labels = get_manager().format_plugin("yolo").read(tmp_path / "data.yaml", None)
    assert labels.category_names == ["a", "b"]
    assert [b.category for b in labels.images[0].boxes] == ["b"]
    assert labels.notes == ("1 image(s) listed under more than one split kept the first",)
