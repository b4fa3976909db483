"""Several annotators on one project (issue 16, item 2), on SQLite and PostgreSQL: who made each edit, optimistic
edits (a box changed by someone else since it was loaded is refused, never overwritten, undo included), "next
image for me" (two people never get the same image: 4 processes x 25 claims on PostgreSQL), the markers other
clients poll, and the counts per annotator."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from benchmarks import bench_team
from detector_app.core.names import InvalidNameError
from detector_app.errors import StaleEditError, StorageError
from detector_app.review import Reviewer
from detector_app.storage import Project, identity
from detector_app.storage.models import Image, utcnow
from detector_app.storage.team import AnnotatorCounts

from .backends import ProjectSource, dump_project
from .helpers_storage import detections, write_image


@pytest.fixture
def two(project_source: ProjectSource, tmp_path: Path) -> Iterator[tuple[Project, Project, list[int]]]:
    """The same project opened twice, as alice and as bob (two clients), with three images of one box each."""
    with project_source.open() as alice, project_source.open() as bob:
        alice.repo.annotator, bob.repo.annotator = "alice", "bob"
        ids = [alice.repo.add_image(write_image(tmp_path / f"{n}.png", 100, 80, color=n)).id for n in range(3)]
        for image_id in ids:
            alice.repo.add_predictions(image_id, detections([(10, 10, 40, 40)], [1]))
        yield alice, bob, ids


def box_of(project: Project, image_id: int):  # noqa: ANN201 - the record type is what the test reads
    (box,) = project.repo.annotations_for_image(image_id)
    return box


# --- identity --------------------------------------------------------------------------------------------


def test_the_annotator_is_configured_or_the_environment_or_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(identity.ANNOTATOR_ENV, raising=False)
    monkeypatch.setattr(identity.getpass, "getuser", lambda: "osuser")
    assert identity.annotator_name() == "osuser"
    monkeypatch.setenv(identity.ANNOTATOR_ENV, "  carol ")
    assert identity.annotator_name() == "carol"
    assert identity.annotator_name("dave") == "dave" and identity.annotator_name("  ") == "carol"

    def no_user() -> str:
        raise OSError("No username set in the environment")
    monkeypatch.delenv(identity.ANNOTATOR_ENV)
    monkeypatch.setattr(identity.getpass, "getuser", no_user)
    assert identity.annotator_name() == identity.FALLBACK_ANNOTATOR
    for bad in ("ev\x1bil", "x" * (identity.MAX_ANNOTATOR_LENGTH + 1)):
        with pytest.raises(InvalidNameError, match="annotator name"):
            identity.annotator_name(bad)


def test_every_edit_records_who_made_it(two: tuple[Project, Project, list[int]]) -> None:
    alice, bob, (first, second, third) = two
    box = box_of(alice, first)
    assert box.updated_by is None and box.revision == 1  # a model's box: nobody edited it yet
    moved = alice.repo.update_bbox(box.id, (12, 12, 40, 40))
    assert (moved.updated_by, moved.revision) == ("alice", 2)
    assert alice.repo.get_image(first).reviewed  # no prediction left: reviewed, by alice
    relabelled = bob.repo.set_category(moved.id, "dog", revision=moved.revision)
    assert (relabelled.updated_by, relabelled.revision) == ("bob", 3)
    drawn = bob.repo.add_annotation(second, "cat", (1, 1, 5, 5))
    assert drawn.updated_by == "bob" and not bob.repo.get_image(second).reviewed  # its prediction waits
    bob.repo.mark_reviewed(third)
    assert alice.repo.annotator_counts() == {"alice": AnnotatorCounts(0, 1), "bob": AnnotatorCounts(2, 1)}
    alice.repo.add_predictions(third, detections([(5, 5, 20, 20)], [1]))  # unreviewed again: bob's mark goes
    assert alice.repo.annotator_counts()["bob"] == AnnotatorCounts(2, 0)


# --- optimistic edits --------------------------------------------------------------------------------------


def test_an_edit_from_an_older_revision_is_refused_and_nothing_changes(
        two: tuple[Project, Project, list[int]], project_source: ProjectSource) -> None:
    alice, bob, (first, *_) = two
    loaded_by_bob = box_of(bob, first)
    alice.repo.update_bbox(loaded_by_bob.id, (20, 20, 30, 30), revision=loaded_by_bob.revision)
    engine = project_source.engine()
    before = dump_project(engine)
    reviewer = Reviewer(bob.repo)
    for edit in (lambda: reviewer.move(loaded_by_bob.id, (0, 0, 5, 5), loaded_by_bob.revision),
                 lambda: reviewer.accept(loaded_by_bob.id, loaded_by_bob.revision),
                 lambda: reviewer.reject(loaded_by_bob.id, loaded_by_bob.revision),
                 lambda: reviewer.relabel(loaded_by_bob.id, "dog", loaded_by_bob.revision),
                 lambda: reviewer.delete(loaded_by_bob.id, loaded_by_bob.revision)):
        with pytest.raises(StaleEditError, match="changed by alice since you loaded it"):
            edit()
    assert dump_project(engine) == before  # not even the class "dog" was created
    engine.dispose()
    fresh = box_of(bob, first)  # what the view shows after reloading: alice's box, and bob may edit it now
    assert fresh.bbox == (20, 20, 30, 30) and fresh.revision == 2
    assert reviewer.accept(fresh.id, fresh.revision).after[0].revision == 3


def test_a_box_deleted_by_someone_else_is_not_brought_back(two: tuple[Project, Project, list[int]]) -> None:
    alice, bob, (first, *_) = two
    loaded = box_of(bob, first)
    alice.repo.delete_annotation(loaded.id, loaded.revision)
    with pytest.raises(StaleEditError, match="deleted by someone else"):
        bob.repo.update_bbox(loaded.id, (1, 1, 5, 5), revision=loaded.revision)
    with pytest.raises(StaleEditError, match="deleted by someone else"):
        Reviewer(bob.repo).move(loaded.id, (1, 1, 5, 5), loaded.revision)
    with pytest.raises(StorageError, match="not in the project"):  # no copy held: the old message
        bob.repo.update_bbox(loaded.id, (1, 1, 5, 5))
    assert bob.repo.annotations_for_image(first) == []


def test_undo_and_redo_are_refused_once_someone_else_changed_the_box(
        two: tuple[Project, Project, list[int]], project_source: ProjectSource) -> None:
    alice, bob, (first, second, _) = two
    mine = Reviewer(alice.repo)
    edit = mine.move(box_of(alice, first).id, (30, 30, 20, 20))
    edit = mine.undo(edit)  # alone on the box: undo and redo go through, revisions followed
    edit = mine.redo(edit)
    assert box_of(bob, first).bbox == (30, 30, 20, 20) and box_of(bob, first).revision == 4
    theirs = box_of(bob, first)
    bob.repo.set_category(theirs.id, "dog", revision=theirs.revision)
    engine = project_source.engine()
    before = dump_project(engine)
    with pytest.raises(StaleEditError, match="changed by bob"):
        mine.undo(edit)
    assert dump_project(engine) == before  # bob's class stays, alice's undo wrote nothing

    drawn = mine.draw(second, "cat", (1, 1, 9, 9))
    gone = mine.undo(drawn)  # undoing a draw deletes the box...
    back = mine.redo(gone)  # ...and redo puts it back under its id, at a newer revision
    assert back.after[0] is not None and back.after[0].id == drawn.after[0].id and back.after[0].revision > 1
    bob.repo.delete_annotation(back.after[0].id, back.after[0].revision)
    before = dump_project(engine)
    with pytest.raises(StaleEditError, match="deleted by someone else"):
        mine.undo(back)
    assert dump_project(engine) == before and len(bob.repo.annotations_for_image(second)) == 1  # the prediction
    engine.dispose()


# --- next image for me ---------------------------------------------------------------------------------


def test_next_image_for_me_hands_out_each_unreviewed_image_once(two: tuple[Project, Project, list[int]]) -> None:
    alice, bob, (first, second, third) = two
    alice.repo.mark_reviewed(first)
    a = alice.repo.claim_next_image()
    b = bob.repo.claim_next_image()
    assert (a.id, b.id) == (second, third)  # the reviewed one is not handed out; bob skips alice's
    assert bob.repo.claimed_by(second) == "alice" and bob.repo.claim_next_image() is None  # all taken
    assert bob.repo.claimed_by(third) is None  # asking again let bob's earlier claim go
    assert alice.repo.claim_next_image(order=[third, second, first]).id == third
    assert alice.repo.claimed_by(second) is None  # alice's earlier claim is free again
    with alice.repo.transaction() as s:  # alice went home an hour ago: her claim has run out
        s.execute(update(Image).where(Image.id == third).values(claimed_at=utcnow() - timedelta(hours=1)))
    assert bob.repo.claim_next_image(order=[third, second]).id == third
    assert bob.repo.release_claims() == 1 and bob.repo.claimed_by(third) is None
    with pytest.raises(InvalidNameError):
        bob.repo.claim_next_image("bad\nname")


def _claim_many(url: str | None, folder: str, worker: int, claims: int) -> list[int]:
    """One client process: ``claims`` times "next image for me", marking each image reviewed."""
    source = ProjectSource("postgresql" if url else "sqlite", Path(folder), url)
    with source.open() as project:
        got = []
        for _ in range(claims):
            image = project.repo.claim_next_image(f"worker{worker}")
            assert image is not None
            got.append(image.id)
            project.repo.mark_reviewed(image.id)  # the review is done: the next claim lets nothing go
    return got


def test_concurrent_claims_never_hand_out_an_image_twice(project_source: ProjectSource, tmp_path: Path) -> None:
    workers, claims = 4, 25
    with project_source.open() as project:
        for n in range(workers * claims):
            write_image(tmp_path / "images" / f"{n:03}.png", 8, 8, color=n)
        project.repo.add_images_from_folder(tmp_path / "images")
        assert project.repo.count_images("unreviewed") == workers * claims
    with ProcessPoolExecutor(workers, mp_context=bench_team._processes()) as pool:
        futures = [pool.submit(_claim_many, project_source.url, str(project_source.folder), w, claims)
                   for w in range(workers)]
        handed = [image_id for f in futures for image_id in f.result(timeout=120)]
    assert len(handed) == workers * claims and len(set(handed)) == len(handed)  # 0 duplicates, none missed
    with project_source.open() as project:
        assert project.repo.count_images("unreviewed") == 0
        assert sum(c.images_reviewed for c in project.repo.annotator_counts().values()) == workers * claims


# --- what other clients poll ------------------------------------------------------------------------------


def test_markers_change_with_every_change_of_someone_else(two: tuple[Project, Project, list[int]]) -> None:
    alice, bob, (first, second, _) = two
    image, project = bob.repo.image_marker(first), bob.repo.project_marker()
    assert bob.repo.image_marker(first) == image  # nothing changed: the same marker
    box = box_of(alice, first)
    alice.repo.set_status(box.id, "accepted", revision=box.revision)
    assert bob.repo.image_marker(first) != image and bob.repo.project_marker() != project  # reviewed now
    image, project = bob.repo.image_marker(first), bob.repo.project_marker()
    other = bob.repo.image_marker(second)
    alice.repo.update_bbox(box.id, (11, 11, 40, 40))  # a change inside the image only
    assert bob.repo.image_marker(first) != image and bob.repo.image_marker(second) == other
    alice.repo.add_annotation(second, "cat", (1, 1, 4, 4))
    assert bob.repo.image_marker(second) != other and bob.repo.project_marker() != project
