"""Repository API: images, predictions, edits, the review rule, the undo primitive, listing and paging."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from detector_app.errors import StorageError
from detector_app.storage import Project, default_project_path
from detector_app.storage.models import ModelVersion
from detector_app.storage.records import AnnotationRecord
from detector_app.storage.repository import Repository

from .backends import ProjectSource, dump_project
from .helpers_storage import detections, write_image


@pytest.fixture
def project(project_source: ProjectSource) -> Iterator[Project]:
    """An empty project, once as an SQLite folder and once on PostgreSQL."""
    with project_source.open() as p:
        yield p


@pytest.fixture
def repo(project: Project) -> Repository:
    return project.repo


@pytest.fixture
def image_id(repo: Repository, tmp_path: Path) -> int:
    return repo.add_image(write_image(tmp_path / "a.png", 100, 80)).id


# --- project ------------------------------------------------------------------------------------------


def test_project_layout_and_sqlite_settings(project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        assert project.db_path == project.path / "project.db" and project.db_path.is_file()
        assert project.frames_dir.is_dir()
        with project.repo.engine.connect() as conn:
            pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000, "synchronous": 2}


def test_default_project_lives_in_the_user_data_folder(_isolated_app_home: Path) -> None:
    assert default_project_path() == _isolated_app_home / "data" / "default-project"
    with Project.open() as project:
        assert project.path == default_project_path().resolve()
        assert project.db_path.is_file()


def test_open_refuses_missing_project_and_non_databases(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="not a project"):
        Project.open(tmp_path / "nothing", create=False)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StorageError, match="not a project folder"):
        Project.open(tmp_path / "file.txt")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "project.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot open project database"):
        Project.open(garbage)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "project.db") as conn:
        conn.execute("CREATE TABLE other (x)")
    with pytest.raises(StorageError, match="not a detector-app project"):
        Project.open(foreign)


def test_reopening_keeps_everything(project_dir: Path, tmp_path: Path) -> None:
    with Project.open(project_dir) as p:
        image = p.repo.add_image(write_image(tmp_path / "x.png"))
        p.repo.add_annotation(image.id, "cat", (1, 2, 3, 4))
    with Project.open(project_dir, create=False) as p:
        assert [a.bbox for a in p.repo.annotations_for_image(image.id)] == [(1.0, 2.0, 3.0, 4.0)]


# --- images -------------------------------------------------------------------------------------------


def test_add_image_dedupes_by_path_and_reads_size(repo: Repository, tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", 120, 70)
    first = repo.add_image(path)
    again = repo.add_image(str(path))
    assert first == again
    assert (first.width, first.height, first.origin, first.path) == (120, 70, "file", path.resolve())
    assert first.stored_path == path.resolve().as_posix()  # outside the project: absolute
    assert len(first.content_hash or "") == 64 and not first.reviewed
    assert repo.count_images() == 1


def test_image_inside_the_project_is_stored_relative(project: Project) -> None:
    path = write_image(project.path / "imgs" / "b.png")
    record = project.repo.add_image(path)
    assert record.stored_path == "imgs/b.png"
    assert record.path == project.path / "imgs" / "b.png"


def test_exif_rotation_swaps_the_size(repo: Repository, tmp_path: Path) -> None:
    rotated = repo.add_image(write_image(tmp_path / "r.jpg", 64, 32, exif_orientation=6))
    upright = repo.add_image(write_image(tmp_path / "u.jpg", 64, 32, exif_orientation=1))
    assert (rotated.width, rotated.height) == (32, 64)
    assert (upright.width, upright.height) == (64, 32)


def test_add_image_rejects_non_images(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(StorageError, match="not a readable image"):
        repo.add_image(tmp_path / "notes.png")
    with pytest.raises(StorageError, match="not found"):
        repo.add_image(tmp_path / "missing.png")
    assert repo.count_images() == 0


def test_add_images_from_folder_skips_unreadable_files(repo: Repository, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    for i in range(3):
        write_image(folder / f"{i}.png")
    write_image(folder / "sub" / "deep.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    (folder / "readme.txt").write_text("hi")
    records = repo.add_images_from_folder(folder)
    assert sorted(r.path.name for r in records) == ["0.png", "1.png", "2.png", "deep.jpg"]
    assert repo.add_images_from_folder(folder) == records  # idempotent
    assert len(repo.add_images_from_folder(folder, recursive=False)) == 3


def test_add_frame_writes_a_file_and_dedupes_video_frames(project: Project) -> None:
    frame = np.full((30, 40, 3), 200, np.uint8)
    video = project.repo.add_frame(frame, origin="video", video_path="/videos/street.avi", frame_index=12)
    assert video.path.is_file() and video.path.parent == project.frames_dir
    assert (video.width, video.height, video.origin, video.frame_index) == (40, 30, "video", 12)
    assert video.video_path == "/videos/street.avi"
    assert project.repo.add_frame(frame, "video", "/videos/street.avi", 12) == video
    webcam = [project.repo.add_frame(frame, origin="webcam") for _ in range(2)]
    assert webcam[0].id != webcam[1].id and webcam[0].path != webcam[1].path
    png = project.repo.add_frame(frame, "webcam", ext=".png")
    assert png.path.suffix == ".png" and png.path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(StorageError):
        project.repo.add_frame(frame, origin="file")
    with pytest.raises(StorageError):
        project.repo.add_frame(np.zeros((0, 0, 3), np.uint8), origin="webcam")


# --- predictions and edits ----------------------------------------------------------------------------


def test_add_predictions_skips_background_and_creates_classes(repo: Repository, image_id: int) -> None:
    dets = detections([(10, 20, 30, 60), (0, 0, 5, 5), (1, 1, 9, 9), (5, 5, 5, 9)], [1, 0, 3, 2])
    records = repo.add_predictions(image_id, dets)
    assert [(r.category_name, r.bbox, r.status, r.origin) for r in records] == [
        ("cat", (10.0, 20.0, 20.0, 40.0), "predicted", "model"),
        ("bird", (1.0, 1.0, 8.0, 8.0), "predicted", "model"),
    ]  # background and the zero-width box are dropped
    assert records[0].score == pytest.approx(0.9)
    # The model's label is kept as the class's COCO id when it is free.
    assert {c.name: c.coco_id for c in repo.categories()} == {"cat": 1, "bird": 3}
    assert repo.annotations_for_image(image_id) == records


def test_prediction_batch_is_one_transaction(repo: Repository, image_id: int) -> None:
    before = dump_project(repo.engine)
    good = detections([(1, 1, 5, 5)], [1])
    with pytest.raises(StorageError, match="image 999"):
        repo.add_predictions_many([(image_id, good), (image_id, good), (999, good)])
    assert dump_project(repo.engine) == before
    assert repo.add_predictions_many([(image_id, good), (image_id, good)]) == 2


def test_edits_follow_the_status_rules(repo: Repository, image_id: int) -> None:
    a, b, c = repo.add_predictions(image_id, detections([(0, 0, 10, 10)] * 3, [1, 1, 2]))
    moved = repo.update_bbox(a.id, (1, 2, 3, 4))
    assert (moved.bbox, moved.status, moved.origin) == ((1.0, 2.0, 3.0, 4.0), "corrected", "model")
    assert moved.updated_at is not None and a.updated_at is not None and moved.updated_at >= a.updated_at
    relabelled = repo.set_category(b.id, "bird")
    assert (relabelled.category_name, relabelled.status) == ("bird", "corrected")
    assert repo.set_status(c.id, "rejected").status == "rejected"
    assert repo.set_status(c.id, "accepted").status == "accepted"
    human = repo.add_annotation(image_id, "cat", (5, 5, 5, 5))
    assert (human.origin, human.status, human.score) == ("human", "accepted", None)
    assert repo.update_bbox(human.id, (6, 6, 5, 5)).status == "accepted"  # a person's own box stays accepted
    cat_id = next(cat.id for cat in repo.categories() if cat.name == "cat")
    assert repo.set_category(relabelled.id, cat_id).category_name == "cat"


@pytest.mark.parametrize("bbox", [(0, 0, 0, 5), (0, 0, 5, -1), (float("nan"), 0, 1, 1), (0, 0, float("inf"), 1),
                                  (1, 2, 3), ("a", 1, 2, 3)])
def test_bad_boxes_are_refused(repo: Repository, image_id: int, bbox: tuple) -> None:
    with pytest.raises(StorageError, match="box"):
        repo.add_annotation(image_id, "cat", bbox)
    assert repo.annotations_for_image(image_id) == []


def test_bad_references_are_refused(repo: Repository, image_id: int) -> None:
    with pytest.raises(StorageError, match="image 42"):
        repo.add_annotation(42, "cat", (1, 1, 1, 1))
    with pytest.raises(StorageError, match="category 77"):
        repo.add_annotation(image_id, 77, (1, 1, 1, 1))
    with pytest.raises(StorageError, match="annotation 5"):
        repo.update_bbox(5, (1, 1, 1, 1))
    with pytest.raises(StorageError, match="status"):
        repo.add_annotation(image_id, "cat", (1, 1, 1, 1), status="maybe")
    with pytest.raises(StorageError, match="class name"):
        repo.ensure_category("__background__")


def test_review_rule(repo: Repository, image_id: int) -> None:
    a, b = repo.add_predictions(image_id, detections([(0, 0, 10, 10), (5, 5, 20, 20)], [1, 2]))
    assert not repo.get_image(image_id).reviewed
    repo.set_status(a.id, "accepted")
    assert not repo.get_image(image_id).reviewed  # b is still a prediction
    repo.set_status(b.id, "rejected")
    assert repo.get_image(image_id).reviewed
    repo.add_predictions(image_id, detections([(1, 1, 4, 4)], [1]))
    assert not repo.get_image(image_id).reviewed  # new predictions need review again
    assert repo.mark_reviewed(image_id).reviewed
    assert not repo.mark_reviewed(image_id, reviewed=False).reviewed
    assert repo.count_images("unreviewed") == 1 and repo.count_images("reviewed") == 0


def test_deleting_the_last_prediction_reviews_the_image(repo: Repository, image_id: int) -> None:
    (a,) = repo.add_predictions(image_id, detections([(0, 0, 10, 10)], [1]))
    snapshot = repo.delete_annotation(a.id)
    assert repo.get_image(image_id).reviewed and repo.annotations_for_image(image_id) == []
    assert repo.restore_annotation(snapshot) == snapshot  # undo brings the prediction back...
    assert not repo.get_image(image_id).reviewed  # ...and the image needs review again


# --- the undo primitive -------------------------------------------------------------------------------


def test_restore_annotation_undoes_every_kind_of_edit(repo: Repository, image_id: int) -> None:
    (a,) = repo.add_predictions(image_id, detections([(0, 0, 10, 10)], [1], [0.75]))
    for edit in (lambda: repo.update_bbox(a.id, (3, 3, 3, 3)), lambda: repo.set_category(a.id, "dog"),
                 lambda: repo.set_status(a.id, "rejected"), lambda: repo.set_status(a.id, "accepted")):
        before = repo.get_annotation(a.id)
        after = edit()
        assert after != before
        assert repo.restore_annotation(before) == before  # every field back, updated_at included
        assert repo.restore_annotation(after) == after  # and redo
        repo.restore_annotation(before)
    assert repo.get_annotation(a.id) == a


def test_delete_and_restore_keep_the_id_and_ids_are_never_reused(repo: Repository, image_id: int) -> None:
    first = repo.add_annotation(image_id, "cat", (1, 1, 5, 5))
    last = repo.add_annotation(image_id, "dog", (2, 2, 5, 5))
    snapshot = repo.delete_annotation(last.id)
    assert snapshot == last
    newer = repo.add_annotation(image_id, "cat", (9, 9, 1, 1))
    assert newer.id > last.id  # AUTOINCREMENT: the deleted id stays free for its undo
    restored = repo.restore_annotation(snapshot)
    assert restored == last
    assert [x.id for x in repo.annotations_for_image(image_id)] == [first.id, last.id, newer.id]
    with pytest.raises(StorageError):
        repo.delete_annotation(12345)


def test_restore_recreates_a_missing_category(repo: Repository, image_id: int) -> None:
    ann = repo.add_annotation(image_id, "cat", (1, 1, 5, 5))
    ghost = dataclasses.replace(ann, category_id=999, category_name="ghost")
    restored = repo.restore_annotation(ghost)
    assert restored.category_name == "ghost" and restored.id == ann.id


def test_annotations_for_image_can_hide_rejected(repo: Repository, image_id: int) -> None:
    a, b = repo.add_predictions(image_id, detections([(0, 0, 10, 10), (1, 1, 3, 3)], [1, 2]))
    repo.set_status(b.id, "rejected")
    assert [x.id for x in repo.annotations_for_image(image_id, include_rejected=False)] == [a.id]
    assert len(repo.annotations_for_image(image_id)) == 2


def test_records_are_frozen_plain_values(repo: Repository, image_id: int) -> None:
    ann = repo.add_annotation(image_id, "cat", (1, 1, 5, 5))
    assert isinstance(ann, AnnotationRecord) and dataclasses.is_dataclass(ann)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ann.status = "rejected"  # type: ignore[misc]


# --- listing ------------------------------------------------------------------------------------------


@pytest.fixture
def many_images(repo: Repository, tmp_path: Path) -> list[int]:
    for i in range(250):
        write_image(tmp_path / "many" / f"{i:04d}.png", 16, 12)
    ids = [r.id for r in repo.add_images_from_folder(tmp_path / "many")]
    for n, image in enumerate(ids[:40]):
        dets = detections([(1, 1, 9, 9)], [1 if n % 2 else 2])
        (ann,) = repo.add_predictions(image, dets)
        if n < 10:
            repo.set_status(ann.id, "accepted")
    return ids


def test_list_and_count_by_state_and_class(repo: Repository, many_images: list[int]) -> None:
    assert repo.count_images() == 250
    assert repo.count_images("reviewed") == 10
    assert repo.count_images("unreviewed") == 240
    reviewed = repo.image_ids("reviewed")
    assert reviewed == many_images[:10]
    assert repo.image_ids(category="cat") == many_images[1:40:2]
    assert repo.count_images("reviewed", category="dog") == 5
    assert repo.image_ids(category="no-such-class") == [] and repo.count_images(category="zebra") == 0
    cat = next(c for c in repo.categories() if c.name == "cat")
    assert repo.image_ids(category=cat.id) == repo.image_ids(category="cat")
    assert [r.id for r in repo.list_images("reviewed", limit=3, offset=2)] == many_images[2:5]
    with pytest.raises(StorageError, match="state"):
        repo.list_images("done")


def test_keyset_and_offset_paging_visit_every_image_once(repo: Repository, many_images: list[int]) -> None:
    seen, after = [], None
    while page := repo.list_images(limit=64, after_id=after):
        seen += [r.id for r in page]
        after = page[-1].id
    assert seen == many_images
    by_offset = [r.id for start in range(0, 250, 100) for r in repo.list_images(offset=start, limit=100)]
    assert by_offset == many_images
    assert [r.id for r in repo.get_images(many_images[::-50])] == many_images[::-50]


def test_class_counts(repo: Repository, many_images: list[int]) -> None:
    counts = repo.class_counts()
    assert counts["cat"] == {"predicted": 15, "accepted": 5, "corrected": 0, "rejected": 0}
    assert counts["dog"] == {"predicted": 15, "accepted": 5, "corrected": 0, "rejected": 0}
    repo.ensure_category("empty")
    assert repo.class_counts()["empty"] == dict.fromkeys(("predicted", "accepted", "corrected", "rejected"), 0)


def test_ensure_category_is_stable(repo: Repository) -> None:
    first = repo.ensure_category("person", coco_id=1, supercategory="human")
    assert repo.ensure_category("person") == first
    clash = repo.ensure_category("other", coco_id=1)  # id taken: gets the next free one
    assert clash.coco_id == 2 and clash.color.startswith("#") and len(clash.color) == 7
    assert [c.name for c in repo.categories()] == ["person", "other"]


# --- model versions and training runs -----------------------------------------------------------------


def test_model_versions_have_one_active(repo: Repository, project: Project) -> None:
    v1 = repo.add_model_version("base", "retinanet_light", ["__background__", "cat"],
                                project.path / "models" / "v1.pth", settings={"epochs": 3}, activate=True)
    v2 = repo.add_model_version("tuned", "retinanet_light", ["__background__", "cat"], parent_id=v1.id,
                                metrics={"map": 0.5})
    assert v1.is_active and v1.weights_path == project.path / "models" / "v1.pth"
    assert repo.active_model_version() == v1
    repo.activate_model_version(v2.id)
    assert [v.is_active for v in repo.model_versions()] == [False, True]
    assert repo.get_model_version(v2.id).parent_id == v1.id
    assert repo.update_model_version(v2.id, metrics={"map": 0.7}).metrics == {"map": 0.7}
    with pytest.raises(StorageError):
        repo.activate_model_version(99)
    with project.repo.engine.begin() as conn, pytest.raises(IntegrityError):  # the database enforces one active
        conn.execute(update(ModelVersion).values(is_active=True))


def test_training_runs(repo: Repository) -> None:
    run = repo.add_training_run({"epochs": 2, "lr": 0.01})
    assert (run.status, run.log, run.finished_at) == ("running", "", None)
    version = repo.add_model_version("v", "retinanet_light", ["__background__", "cat"])
    repo.update_training_run(run.id, append_log="epoch 1\n")
    done = repo.update_training_run(run.id, status="finished", append_log="epoch 2\n", metrics={"loss": 0.1},
                                    model_version_id=version.id, finished=True)
    assert (done.status, done.log, done.metrics, done.model_version_id) == (
        "finished", "epoch 1\nepoch 2\n", {"loss": 0.1}, version.id)
    assert done.finished_at is not None and repo.training_runs() == [done]
