"""Undo and redo of every review edit and of a class merge carry the proposal unchanged (review/edits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from detector_app.core.provenance import Action
from detector_app.review import Reviewer
from detector_app.review.edits import ClassEditor
from detector_app.storage import Project
from detector_app.storage.records import AnnotationRecord
from detector_app.storage.repository import Repository

from .helpers_storage import detections, write_image

PROPOSAL = (10.0, 10.0, 20.0, 20.0)


@pytest.fixture
def repo(project_dir: Path) -> Iterator[Repository]:
    with Project.open(project_dir) as project:
        yield project.repo


@pytest.fixture
def boxes(repo: Repository, tmp_path: Path) -> tuple[int, AnnotationRecord, AnnotationRecord]:
    image = repo.add_image(write_image(tmp_path / "a.png", 100, 80)).id
    cat, dog = repo.add_predictions(image, detections([(10, 10, 30, 30), (40, 20, 90, 70)], [1, 2], [0.9, 0.6]))
    return image, cat, dog


def _proposal(a: AnnotationRecord) -> tuple[object, ...]:
    return a.proposal_bbox, a.proposal_category_id, a.proposal_score


@pytest.mark.parametrize(("edit", "action"), [
    ("move", Action.ADJUSTED), ("relabel", Action.RELABELLED), ("accept", Action.ACCEPTED),
    ("reject", Action.REJECTED), ("delete", None),
])
def test_undo_and_redo_keep_the_proposal(repo: Repository, boxes, edit: str, action: Action | None) -> None:
    _image, cat, dog = boxes
    reviewer = Reviewer(repo)
    done = {"move": lambda: reviewer.move(cat.id, (20, 10, 20, 20)), "relabel": lambda: reviewer.relabel(cat.id, "dog"),
            "accept": lambda: reviewer.accept(cat.id), "reject": lambda: reviewer.reject(cat.id),
            "delete": lambda: reviewer.delete(cat.id)}[edit]()
    after = done.after[0]
    assert after is None or (_proposal(after) == _proposal(cat) and after.correction.action == action)
    done = reviewer.undo(done) or done  # (the edit as stored again, where undo returns it: revisions)
    assert repo.get_annotation(cat.id) == cat and cat.proposal_bbox == PROPOSAL
    reviewer.redo(done)
    if after is not None:
        assert repo.get_annotation(cat.id) == after
    else:
        assert [a.id for a in repo.annotations_for_image(cat.image_id)] == [dog.id]


def test_drawn_box_undo_and_redo_has_no_proposal(repo: Repository, boxes) -> None:
    image, _cat, _dog = boxes
    reviewer = Reviewer(repo)
    done = reviewer.draw(image, "bird", (50, 5, 10, 10))
    done = reviewer.undo(done) or done
    reviewer.redo(done)
    drawn = repo.get_annotation(done.after[0].id)
    assert _proposal(drawn) == (None, None, None) and drawn.correction.action == Action.DRAWN


def test_class_merge_undo_and_redo_move_the_proposal_class(repo: Repository, boxes) -> None:
    _image, cat, dog = boxes
    Reviewer(repo).relabel(dog.id, "bird")  # proposed dog, now bird
    editor = ClassEditor(repo)
    merge = editor.merge(dog.category_id, cat.category_id)  # dog merged into cat
    assert repo.get_annotation(dog.id).proposal_category_id == cat.category_id
    assert repo.get_annotation(dog.id).correction.action == Action.RELABELLED  # cat (was dog) -> bird
    editor.undo(merge)
    assert repo.get_annotation(dog.id).proposal_category_id == dog.category_id
    editor.redo(merge)
    assert repo.get_annotation(dog.id).proposal_category_id == cat.category_id
    assert repo.get_annotation(cat.id) == cat  # untouched: its class was the target
