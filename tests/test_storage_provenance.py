"""The proposal kept beside every model box and the review times, on SQLite and PostgreSQL: stored at insert,
read back, kept through edits, undo snapshots and class merges; none for drawn or imported boxes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detector_app.core.provenance import Action, Correction
from detector_app.errors import StorageError
from detector_app.storage import Project
from detector_app.storage.label_export import read_label_set, read_predictions
from detector_app.storage.repository import Repository
from detector_app.transfer.importing import import_coco

from .backends import ProjectSource, dump_project
from .helpers_storage import detections, small_dataset, write_image


@pytest.fixture
def project(project_source: ProjectSource) -> Iterator[Project]:
    with project_source.open() as p:
        yield p


@pytest.fixture
def repo(project: Project) -> Repository:
    return project.repo


@pytest.fixture
def image_id(repo: Repository, tmp_path: Path) -> int:
    return repo.add_image(write_image(tmp_path / "a.png", 100, 80)).id


def test_predictions_store_their_proposal_and_edits_keep_it(repo: Repository, image_id: int) -> None:
    version = repo.add_model_version("v1", "retinanet_light", ["cat", "dog"]).id
    cat, dog = repo.add_predictions(image_id, detections([(10, 10, 30, 30), (40, 20, 90, 70)], [1, 2], [0.9, 0.6]),
                                    model_version_id=version)
    assert cat.proposal_bbox == (10.0, 10.0, 20.0, 20.0) and cat.proposal_score == pytest.approx(0.9)
    assert cat.proposal_category_id == cat.category_id and dog.proposal_bbox == (40.0, 20.0, 50.0, 50.0)
    assert cat.correction == Correction(Action.PENDING)

    moved = repo.update_bbox(cat.id, (20, 10, 20, 20))  # 10 px right: IoU 200 / 600
    assert moved.proposal_bbox == (10.0, 10.0, 20.0, 20.0) and moved.proposal_category_id == cat.category_id
    assert moved.correction == Correction(Action.ADJUSTED, pytest.approx(1 / 3))
    relabelled = repo.set_category(dog.id, "cat")
    assert relabelled.proposal_category_id == dog.category_id != relabelled.category_id
    assert relabelled.correction == Correction(Action.RELABELLED, 1.0)
    assert repo.get_annotation(dog.id) == relabelled  # read back from the database, not only returned


def test_many_predictions_and_a_model_box_added_one_by_one_keep_the_proposal(repo: Repository, image_id: int,
                                                                             tmp_path: Path) -> None:
    other = repo.add_image(write_image(tmp_path / "b.png", 100, 80)).id
    assert repo.add_predictions_many([(image_id, detections([(1, 2, 11, 22)], [3], [0.5])),
                                      (other, detections([(5, 5, 15, 15)], [1], [0.7]))]) == 2
    (first,), (second,) = repo.annotations_for_image(image_id), repo.annotations_for_image(other)
    assert (first.proposal_bbox, first.proposal_score) == ((1.0, 2.0, 10.0, 20.0), pytest.approx(0.5))
    assert second.proposal_category_id == second.category_id
    model_box = repo.add_annotation(image_id, "dog", (3, 4, 5, 6), origin="model", status="predicted", score=0.4)
    assert (model_box.proposal_bbox, model_box.proposal_score) == ((3.0, 4.0, 5.0, 6.0), 0.4)
    assert model_box.proposal_category_id == model_box.category_id
    drawn = repo.add_annotation(image_id, "dog", (3, 4, 5, 6))
    assert (drawn.proposal_bbox, drawn.proposal_category_id, drawn.proposal_score) == (None, None, None)
    assert drawn.correction == Correction(Action.DRAWN)
    scores = sorted(b.score for i in read_predictions(repo).images for b in i.boxes)  # export's own query
    assert scores == pytest.approx([0.4, 0.5, 0.7])


def test_undo_snapshot_writes_the_proposal_back_unchanged(repo: Repository, image_id: int) -> None:
    (box,) = repo.add_predictions(image_id, detections([(10, 10, 30, 30)], [1], [0.8]))
    repo.update_bbox(box.id, (0, 0, 5, 5))
    deleted = repo.delete_annotation(box.id)
    assert deleted.proposal_bbox == (10.0, 10.0, 20.0, 20.0)
    restored = repo.restore_annotation(box)  # the snapshot from before the move
    assert restored == box
    assert repo.restore_annotation(deleted).correction == Correction(Action.ADJUSTED, 0.0)


def test_merge_remaps_the_proposal_class_and_undo_puts_it_back(repo: Repository, image_id: int) -> None:
    """A merge says two classes are one: a proposal of the merged class is not counted as relabelled."""
    cat, dog = repo.add_predictions(image_id, detections([(10, 10, 30, 30), (40, 20, 90, 70)], [1, 2]))
    repo.set_category(dog.id, "cat")  # the person says the dog is a cat
    before = repo.class_state([dog.category_id, cat.category_id], boxes_of=[dog.category_id])
    repo.merge_categories(dog.category_id, cat.category_id)  # then: dogs and cats are one class
    merged = repo.get_annotation(dog.id)
    assert merged.proposal_category_id == cat.category_id and merged.correction == Correction(Action.ACCEPTED, 1.0)
    repo.restore_class_state(before)
    back = repo.get_annotation(dog.id)
    assert back.proposal_category_id == dog.category_id and back.correction == Correction(Action.RELABELLED, 1.0)


def test_imported_labels_are_human_labels_without_a_proposal(repo: Repository, tmp_path: Path) -> None:
    json_path, images_dir = small_dataset(tmp_path / "coco")
    import_coco(repo, json_path, images_dir)
    boxes = [b for i in repo.image_ids() for b in repo.annotations_for_image(i)]
    assert boxes and all(b.proposal_bbox is None and b.proposal_category_id is None and b.proposal_score is None
                         for b in boxes)
    assert {b.correction.action for b in boxes} == {Action.DRAWN}
    assert sum(len(i.boxes) for i in read_label_set(repo).images) == len(boxes)


def test_review_time_round_trip(repo: Repository, image_id: int) -> None:
    version = repo.add_model_version("v1", "retinanet_light", ["cat"]).id
    start = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    first = repo.add_review_time(image_id, version, 42.5, start, start + timedelta(minutes=6))
    second = repo.add_review_time(image_id, None, 0.0, start, start, annotator="ann")
    assert repo.review_times(image_id) == [first, second]
    assert (first.model_version_id, first.seconds, first.annotator) == (version, 42.5, None)
    assert (first.started_at, first.finished_at) == (start, start + timedelta(minutes=6))
    assert second.annotator == "ann" and second.model_version_id is None


@pytest.mark.parametrize(("image", "version", "seconds", "length", "message"), [
    (999, None, 1.0, 1, "image 999 is not in the project"),
    (None, 999, 1.0, 1, "model version 999 is not in the project"),
    (None, None, -1.0, 1, "review seconds must be a finite number of at least 0"),
    (None, None, float("nan"), 1, "review seconds must be a finite number of at least 0"),
    (None, None, 1.0, -1, "cannot finish"),
])
def test_bad_review_time_is_refused_with_the_database_unchanged(repo: Repository, image_id: int,
                                                                image: int | None, version: int | None,
                                                                seconds: float, length: int, message: str) -> None:
    start = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    before = dump_project(repo.engine)
    with pytest.raises(StorageError, match=message):
        repo.add_review_time(image or image_id, version, seconds, start, start + timedelta(seconds=length))
    assert dump_project(repo.engine) == before
