"""Team projects (issue 16): every write that changes a box keeps the optimistic-edit bookkeeping (revision up,
author recorded: storage/team.edit_marks), so a copy loaded before a class merge, its undo or a video edit is
stale; and classes created by several clients at the same moment (PostgreSQL) neither fail nor double."""

from __future__ import annotations

import random
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_team
from detector_app.errors import StaleEditError
from detector_app.review import ClassEditor, Reviewer
from detector_app.review.video_edits import VideoTasks
from detector_app.storage import Project
from detector_app.storage.team import AnnotatorCounts
from detector_app.transfer.importing import import_coco

from .backends import ProjectSource
from .helpers_detection import write_video
from .helpers_storage import detections, small_dataset, write_image


@pytest.fixture
def two(project_source: ProjectSource, tmp_path: Path) -> Iterator[tuple[Project, Project, int]]:
    """The project opened as alice and as bob, one image with a cat box and a dog box drawn by alice."""
    with project_source.open() as alice, project_source.open() as bob:
        alice.repo.annotator, bob.repo.annotator = "alice", "bob"
        image_id = alice.repo.add_image(write_image(tmp_path / "a.png", 100, 80)).id
        alice.repo.add_annotation(image_id, "cat", (1, 1, 10, 10))
        alice.repo.add_annotation(image_id, "dog", (20, 20, 10, 10))
        yield alice, bob, image_id


def by_class(project: Project, image_id: int) -> dict[str, Any]:
    return {a.category_name: a for a in project.repo.annotations_for_image(image_id)}


def test_a_merge_makes_the_boxes_it_moved_stale_for_everyone_else(two: tuple[Project, Project, int]) -> None:
    alice, bob, image_id = two
    loaded = by_class(bob, image_id)["cat"]  # bob's view, before the merge
    ids = {c.name: c.id for c in alice.repo.categories()}
    edit = ClassEditor(alice.repo).merge(ids["cat"], ids["dog"])
    merged = alice.repo.get_annotation(loaded.id)
    assert merged.category_name == "dog" and (merged.revision, merged.updated_by) == (loaded.revision + 1, "alice")
    with pytest.raises(StaleEditError, match="changed by alice since you loaded it"):
        Reviewer(bob.repo).relabel(loaded.id, "bird", loaded.revision)  # would have undone alice's merge
    with pytest.raises(StaleEditError, match="changed by alice"):
        bob.repo.update_bbox(loaded.id, (2, 2, 5, 5), revision=loaded.revision)
    assert alice.repo.get_annotation(loaded.id).category_name == "dog"  # nothing of bob's went through

    now = bob.repo.get_annotation(loaded.id)  # bob reloads; alice undoes the merge: bob's copy is stale again
    ClassEditor(alice.repo).undo(edit)
    undone = bob.repo.get_annotation(loaded.id)
    assert undone.category_name == "cat" and (undone.revision, undone.updated_by) == (now.revision + 1, "alice")
    with pytest.raises(StaleEditError, match="changed by alice"):
        bob.repo.set_status(loaded.id, "rejected", revision=now.revision)
    dog = by_class(bob, image_id)["dog"]  # the box of the target class was not changed by the merge
    assert (dog.revision, dog.updated_by) == (1, "alice")


def test_my_own_merge_leaves_my_box_undo_mine_but_not_someone_elses_edit(two: tuple[Project, Project, int]) -> None:
    alice, bob, image_id = two
    mine, classes = Reviewer(alice.repo), ClassEditor(alice.repo)
    cat, dog = by_class(alice, image_id)["cat"], by_class(alice, image_id)["dog"]
    moved = mine.move(cat.id, (5, 5, 10, 10))
    ids = {c.name: c.id for c in alice.repo.categories()}
    merge = classes.merge(ids["cat"], ids["dog"])
    classes.undo(merge)  # the box went up two revisions, both alice's own
    mine.undo(moved)  # so her move is still hers to undo
    assert alice.repo.get_annotation(cat.id).bbox == cat.bbox

    relabelled = mine.relabel(dog.id, "cat")
    now = bob.repo.get_annotation(dog.id)
    bob.repo.update_bbox(dog.id, (30, 30, 5, 5), revision=now.revision)  # bob, in between
    classes.merge(ids["cat"], ids["dog"])  # alice's bulk change does not check: it must not adopt bob's edit
    with pytest.raises(StaleEditError, match="changed by alice"):  # the merge's mark is the latest
        mine.undo(relabelled)
    assert alice.repo.get_annotation(dog.id).bbox == (30, 30, 5, 5)  # bob's move stays


def test_a_merge_remapping_proposals_marks_those_boxes_too(two: tuple[Project, Project, int]) -> None:
    alice, bob, image_id = two
    alice.repo.add_predictions(image_id, detections([(40, 40, 60, 60)], [1], class_names=("__background__", "bird")))
    proposal = by_class(bob, image_id)["bird"]
    relabelled = bob.repo.set_category(proposal.id, "cat", revision=proposal.revision)  # the model said bird
    ids = {c.name: c.id for c in alice.repo.categories()}
    alice.repo.merge_categories(ids["bird"], ids["dog"])  # moves no box, but rewrites that box's proposal
    after = alice.repo.get_annotation(proposal.id)
    assert after.proposal_category_id == ids["dog"] and after.revision == relabelled.revision + 1
    with pytest.raises(StaleEditError, match="changed by alice"):
        bob.repo.delete_annotation(proposal.id, relabelled.revision)


def test_video_edits_mark_the_boxes_they_change(project_source: ProjectSource, tmp_path: Path) -> None:
    with project_source.open() as alice, project_source.open() as bob:
        alice.repo.annotator, bob.repo.annotator = "alice", "bob"
        tasks = VideoTasks(alice.repo, user="alice")
        try:
            video = tasks.open_video(write_video(tmp_path / "clip.avi", frames=10))
            made = tasks.new_track(video.id, 2, "car", (10, 10, 20, 20))
            box_id = next(b.id for b in made.boxes_after if b is not None)
            loaded = bob.repo.get_annotation(box_id)  # bob holds the frame's box as a plain annotation
            assert (loaded.revision, loaded.updated_by) == (1, "alice")
            track_id = next(t.id for t in made.tracks_after if t is not None)
            tasks.set_box(track_id, 2, (12, 12, 20, 20))
            moved = bob.repo.get_annotation(box_id)
            assert (moved.bbox, moved.revision, moved.updated_by) == ((12, 12, 20, 20), 2, "alice")
            with pytest.raises(StaleEditError, match="changed by alice"):
                bob.repo.update_bbox(box_id, (0, 0, 5, 5), revision=loaded.revision)
            tasks.reject(box_id)
            assert bob.repo.get_annotation(box_id).revision == 3
            bob.repo.set_status(box_id, "accepted", revision=3)  # bob's fresh copy goes through
            assert (bob.repo.get_annotation(box_id).revision, bob.repo.get_annotation(box_id).updated_by) == (4, "bob")
        finally:
            tasks.close()


# --- classes created at the same moment -------------------------------------------------------------------

NAMES = tuple(f"class {n}" for n in range(12))


def _create_classes(url: str | None, folder: str, worker: int, barrier: Any, results: Any) -> None:
    """One client: wait for the others, then create the same classes they do (in its own order, several ways:
    the class list, a drawn box, a prediction) and report name -> id, or the error."""
    try:
        source = ProjectSource("postgresql" if url else "sqlite", Path(folder), url)
        with source.open() as project:
            repo = project.repo
            repo.annotator = f"worker{worker}"
            image_id = repo.image_ids()[0]
            names = list(NAMES)
            random.Random(worker).shuffle(names)
            barrier.wait(timeout=120)
            got: dict[str, int] = {}
            for n, name in enumerate(names):
                if n % 3 == 0:
                    got[name] = repo.ensure_category(name, coco_id=n + 1).id  # as an import asks for an id
                elif n % 3 == 1:
                    got[name] = repo.add_annotation(image_id, name, (1, 1, 5, 5)).category_id
                else:
                    found = detections([(1, 1, 9, 9)], [1], class_names=("__background__", name))
                    (box,) = repo.add_predictions(image_id, found)
                    got[name] = box.category_id
        results.put((worker, got, None))
    except BaseException:  # reported to the test, never lost in the child
        results.put((worker, {}, traceback.format_exc()))


def test_clients_creating_the_same_classes_at_once_get_one_row_each(project_source: ProjectSource,
                                                                   tmp_path: Path) -> None:
    workers = 4
    with project_source.open() as project:
        project.repo.add_image(write_image(tmp_path / "a.png", 100, 80))
    context = bench_team._processes()
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_create_classes,
                                 args=(project_source.url, str(project_source.folder), w, barrier, results))
                 for w in range(workers)]
    for process in processes:
        process.start()
    reports = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    errors = [error for _, _, error in reports if error]
    assert not errors, errors[0]
    with project_source.open() as project:
        stored = {c.name: c for c in project.repo.categories()}
        counts = project.repo.class_counts()
    assert sorted(stored) == sorted(NAMES)  # each class once, none lost
    assert len({c.coco_id for c in stored.values()}) == len(NAMES)
    for _, got, _ in reports:  # every client was handed the one row of each class
        assert got == {name: stored[name].id for name in NAMES}
    assert sum(sum(by_status.values()) for by_status in counts.values()) == workers * 8  # 4 boxes + 4 predictions


def test_imported_boxes_and_reviews_are_recorded_for_the_person_importing(project_source: ProjectSource,
                                                                         tmp_path: Path) -> None:
    json_path, images_dir = small_dataset(tmp_path / "set", n_images=2)
    with project_source.open() as project:
        project.repo.annotator = "carol"
        report = import_coco(project.repo, json_path, images_dir)
        boxes = [a for i in project.repo.image_ids() for a in project.repo.annotations_for_image(i)]
        assert len(boxes) == report.annotations_added > 0
        assert {(a.revision, a.updated_by) for a in boxes} == {(1, "carol")}
        counts = project.repo.annotator_counts()
        assert counts == {"carol": AnnotatorCounts(len(boxes), 2)}
