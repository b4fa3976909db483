"""COCO export: which boxes each scope writes, ids, copied images, results files and atomic output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detector_app.errors import StorageError
from detector_app.formats import images as image_copying
from detector_app.storage import Project
from detector_app.storage.label_export import assign_ids
from detector_app.transfer.exporting import export_coco, export_coco_results
from detector_app.transfer.importing import import_coco

from .backends import ProjectSource
from .helpers_storage import detections, small_dataset, write_image


@pytest.fixture
def project(project_source: ProjectSource) -> Iterator[Project]:
    """An empty project, once as an SQLite folder and once on PostgreSQL."""
    with project_source.open() as p:
        yield p


@pytest.fixture
def reviewed_mix(project: Project, tmp_path: Path) -> dict[str, Any]:
    """Image 1 reviewed with one box of each kind; image 2 unreviewed with a prediction."""
    repo = project.repo
    one = repo.add_image(write_image(tmp_path / "pics" / "one.png", 100, 80)).id
    two = repo.add_image(write_image(tmp_path / "pics" / "two.png", 100, 80)).id
    accepted, corrected, rejected, _pending = repo.add_predictions(
        one, detections([(1, 1, 11, 11), (2, 2, 12, 12), (3, 3, 13, 13), (4, 4, 14, 14)], [1, 1, 2, 2]))
    repo.set_status(accepted.id, "accepted")
    repo.update_bbox(corrected.id, (2.5, 2.5, 10.25, 10.5))
    repo.set_status(rejected.id, "rejected")
    human = repo.add_annotation(one, "bird", (30, 30, 5, 5))
    repo.mark_reviewed(one)  # one prediction is still pending: it must not be exported
    repo.add_predictions(two, detections([(5, 5, 25, 25)], [2]))
    return {"one": one, "two": two, "accepted": accepted.id, "corrected": corrected.id, "human": human.id,
            "rejected": rejected.id}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_reviewed_scope_writes_only_reviewed_labels(project: Project, reviewed_mix: dict, tmp_path: Path) -> None:
    data = load(export_coco(project.repo, tmp_path / "out"))
    assert [i["id"] for i in data["images"]] == [reviewed_mix["one"]]
    assert sorted(a["id"] for a in data["annotations"]) == sorted(
        [reviewed_mix["accepted"], reviewed_mix["corrected"], reviewed_mix["human"]])
    corrected = next(a for a in data["annotations"] if a["id"] == reviewed_mix["corrected"])
    assert corrected["bbox"] == [2.5, 2.5, 10.25, 10.5] and corrected["area"] == 10.25 * 10.5
    assert {a["iscrowd"] for a in data["annotations"]} == {0}
    assert data["images"][0] == {"id": reviewed_mix["one"], "file_name": "one.png", "width": 100, "height": 80}
    assert data["info"]["images_dir"] == (tmp_path / "pics").resolve().as_posix()
    categories = {c["name"]: c["id"] for c in data["categories"]}
    assert categories == {"cat": 1, "dog": 2, "bird": 3}
    assert all(a["category_id"] in categories.values() for a in data["annotations"])


def test_all_scope_and_selection(project: Project, reviewed_mix: dict, tmp_path: Path) -> None:
    everything = load(export_coco(project.repo, tmp_path / "all", scope="all"))
    assert len(everything["images"]) == 2
    assert len(everything["annotations"]) == 5  # every box except the rejected one
    assert reviewed_mix["rejected"] not in {a["id"] for a in everything["annotations"]}
    selected = load(export_coco(project.repo, tmp_path / "sel", scope=[reviewed_mix["two"]]))
    assert [i["id"] for i in selected["images"]] == [reviewed_mix["two"]] and selected["annotations"] == []
    with pytest.raises(StorageError, match="not in the project: 99"):
        export_coco(project.repo, tmp_path / "bad", scope=[99])
    with pytest.raises(StorageError, match="scope"):
        export_coco(project.repo, tmp_path / "bad", scope="finished")


def test_ids_prefer_imported_then_database_then_free() -> None:
    assert assign_ids([(1, None), (2, None), (3, None)]) == {1: 1, 2: 2, 3: 3}
    assert assign_ids([(1, 2), (2, None), (3, 7), (4, None)]) == {1: 2, 3: 7, 4: 4, 2: 1}
    assert assign_ids([(1, 5), (2, 5), (5, None)]) == {1: 5, 2: 2, 5: 1}


def test_imported_ids_survive_new_images(project: Project, tmp_path: Path) -> None:
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=2)
    import_coco(project.repo, json_path, images_dir)
    new = project.repo.add_image(write_image(tmp_path / "new.png", 80, 60))
    project.repo.add_annotation(new.id, "cat", (1, 1, 2, 2))
    data = load(export_coco(project.repo, tmp_path / "out"))
    ids = sorted(i["id"] for i in data["images"])
    assert ids == [new.id, 100, 101]
    ann_ids = sorted(a["id"] for a in data["annotations"])
    assert ann_ids[-4:] == [500, 501, 502, 503] and len(set(ann_ids)) == 5
    assert {a["image_id"] for a in data["annotations"]} <= set(ids)


def test_copy_images_includes_video_frames(project: Project, tmp_path: Path, video_file: Path) -> None:
    repo = project.repo
    photo = repo.add_image(write_image(tmp_path / "pics" / "photo.png", 64, 48))
    frame = repo.add_frame(np.full((48, 64, 3), 90, np.uint8), "video", video_file, 3)
    assert frame.video_path == str(video_file)
    # A frame registered without its file (say, deleted from frames/) is read back from the video.
    frame.path.unlink()
    for image in (photo, frame):
        repo.add_annotation(image.id, "cat", (1, 1, 10, 10))
    out = export_coco(repo, tmp_path / "out", copy_images=True)
    data = load(out)
    assert data["info"]["images_dir"] == "images"
    for entry in data["images"]:
        decoded = cv2.imread(str(out.parent / "images" / entry["file_name"]))
        assert decoded is not None and decoded.shape[1::-1] == (entry["width"], entry["height"])
    # Staging removed; the one hidden file is the manifest that marks the folder as an export.
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == [".detector-app-export.json"]
    # Exporting again replaces the folder instead of piling up files.
    export_coco(repo, tmp_path / "out", copy_images=True)
    assert len(list((out.parent / "images").iterdir())) == 2


@pytest.fixture
def video_file(project: Project) -> Path:
    """A short video inside the project folder (so the database stores its path relative)."""
    path = project.path / "videos" / "clip.avi"
    path.parent.mkdir()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(6):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    return path


def test_failed_export_leaves_nothing_behind(project: Project, reviewed_mix: dict, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    first = export_coco(project.repo, out, copy_images=True)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    project.repo.add_annotation(reviewed_mix["one"], "cat", (50, 50, 5, 5))

    def broken_copy(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_copying.shutil, "copyfile", broken_copy)
    with pytest.raises(StorageError, match="nothing was written"):
        export_coco(project.repo, out, copy_images=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and first.is_file()


def test_missing_image_file_fails_the_copy(project: Project, tmp_path: Path) -> None:
    path = write_image(tmp_path / "gone.png")
    image = project.repo.add_image(path)
    project.repo.add_annotation(image.id, "cat", (1, 1, 3, 3))
    path.unlink()
    with pytest.raises(StorageError, match="missing"):
        export_coco(project.repo, tmp_path / "out", copy_images=True)
    assert not (tmp_path / "out" / "instances.json").exists()


def test_results_export_has_every_model_box_with_its_score(project: Project, reviewed_mix: dict,
                                                           tmp_path: Path) -> None:
    version = project.repo.add_model_version("v1", "retinanet_light", ["__background__", "cat", "dog"])
    project.repo.add_predictions(reviewed_mix["two"], detections([(1, 2, 3, 4)], [1], [0.25]), version.id)
    results = json.loads(export_coco_results(project.repo, tmp_path / "r" / "results.json").read_text())
    assert len(results) == 6  # 4 + 1 earlier predictions, whatever their status, + 1 from v1; no human box
    assert all(set(r) == {"image_id", "category_id", "bbox", "score"} for r in results)
    only_v1 = json.loads(export_coco_results(project.repo, tmp_path / "v1.json",
                                             model_version_id=version.id).read_text())
    assert only_v1 == [{"image_id": reviewed_mix["two"], "category_id": 1, "bbox": [1.0, 2.0, 2.0, 2.0],
                        "score": 0.25}]
    only_one = json.loads(export_coco_results(project.repo, tmp_path / "one.json",
                                              image_ids=[reviewed_mix["one"]]).read_text())
    assert len(only_one) == 4 and {r["image_id"] for r in only_one} == {reviewed_mix["one"]}


def test_export_of_an_empty_project_is_valid(project: Project, tmp_path: Path) -> None:
    data = load(export_coco(project.repo, tmp_path / "out"))
    assert (data["images"], data["annotations"], data["categories"]) == ([], [], [])


# --- issue 12 item 11: export drift and destinations -----------------------------------------------------


def coco_images_resolve(instances: Path) -> list[Path]:
    """Load ``instances`` with pycocotools (the reference reader) and resolve every image through
    ``info.images_dir`` (relative to the export folder when relative); the resolved paths."""
    from pycocotools.coco import COCO

    coco = COCO(str(instances))
    root = Path(coco.dataset["info"]["images_dir"])
    root = root if root.is_absolute() else instances.parent / root
    paths = [root / image["file_name"] for image in coco.loadImgs(coco.getImgIds())]
    assert all(p.is_file() for p in paths), [str(p) for p in paths if not p.is_file()]
    return paths


def test_file_names_are_relative_to_the_images_common_folder(project: Project, tmp_path: Path) -> None:
    repo = project.repo
    for sub in ("a", "b/deeper"):
        image = repo.add_image(write_image(tmp_path / "data" / sub / "x.png", 40, 30))
        repo.add_annotation(image.id, "cat", (1, 1, 5, 5))
    out = export_coco(repo, tmp_path / "out")
    data = load(out)
    assert data["info"]["images_dir"] == (tmp_path / "data").resolve().as_posix()
    assert sorted(i["file_name"] for i in data["images"]) == ["a/x.png", "b/deeper/x.png"]
    assert len(coco_images_resolve(out)) == 2


def test_images_with_no_common_folder_are_never_named_from_the_root(
        project: Project, tmp_path: Path, shared_data: Path) -> None:
    """COCO images from the shared data plus a frame in the project (under /tmp): their only common folder is
    ``/``. Without copies the export refuses (names would be ``work/...`` with ``images_dir "/"``) and writes
    nothing; with copies every image resolves inside the export."""
    from detector_app.formats.target import ExportTargetError

    from .helpers_storage import dump_database

    repo = project.repo
    coco = shared_data / "coco-tiny"
    shared_image = repo.add_image(coco / "images" / load(coco / "instances.json")["images"][0]["file_name"])
    repo.add_annotation(shared_image.id, "cat", (1, 1, 5, 5))
    frame = repo.add_frame(np.full((30, 40, 3), 90, np.uint8), origin="webcam")
    repo.add_annotation(frame.id, "dog", (2, 2, 6, 6))
    before = dump_database(project.path / "project.db")
    with pytest.raises(ExportTargetError, match="nothing in common.*copy"):
        export_coco(repo, tmp_path / "flat")
    assert not (tmp_path / "flat").exists() and dump_database(project.path / "project.db") == before
    out = export_coco(repo, tmp_path / "copied", copy_images=True)
    assert load(out)["info"]["images_dir"] == "images"
    assert all(p.is_relative_to(tmp_path / "copied") for p in coco_images_resolve(out))


def test_exports_never_renumber_categories_when_a_class_is_added(project: Project, tmp_path: Path) -> None:
    """Imported category ids (3, 7) come back unchanged after a new class (say a box drawn as "object") is
    added; the new class takes the next free id, and pycocotools reads both exports' boxes under their ids."""
    json_path, images_dir = small_dataset(tmp_path / "src", n_images=2)
    import_coco(project.repo, json_path, images_dir)
    first = load(export_coco(project.repo, tmp_path / "one"))
    image = project.repo.list_images()[0]
    project.repo.add_annotation(image.id, "object", (3, 3, 4, 4))
    second_path = export_coco(project.repo, tmp_path / "two")
    second = load(second_path)
    ids = {c["name"]: c["id"] for c in second["categories"]}
    assert {c["name"]: c["id"] for c in first["categories"]} == {"cat": 3, "dog": 7}
    assert ids == {"cat": 3, "dog": 7, "object": 8}
    boxes = {(a["image_id"], tuple(a["bbox"])): a["category_id"] for a in second["annotations"]}
    assert all(boxes[(a["image_id"], tuple(a["bbox"]))] == a["category_id"] for a in first["annotations"])
    assert len(coco_images_resolve(second_path)) == 2


def test_export_refuses_the_top_folder_and_the_home_folder(project: Project, reviewed_mix: dict, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from detector_app.formats.target import ExportTargetError
    from detector_app.transfer.exporting import check_destination

    home = tmp_path / "home"
    home.mkdir()  # empty: only the rule refuses it, not the not-empty check
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(ExportTargetError, match="top of the file system"):
        export_coco(project.repo, "/")
    with pytest.raises(ExportTargetError, match="home folder itself"):
        export_coco(project.repo, home)
    with pytest.raises(ExportTargetError, match="home folder itself"):
        check_destination("~")
    assert list(home.iterdir()) == []
    assert check_destination(home / "export") is None
    assert export_coco(project.repo, home / "export").is_file()
