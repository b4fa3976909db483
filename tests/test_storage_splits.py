"""Splits (train/val/test) through the repository: label sets in and out, set_split, counts, schema upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from detector_app.cli.stats_run import format_stats
from detector_app.core.labels import Box, Category, LabelledImage, LabelSet, Split, split_problem
from detector_app.errors import LabelSetError, StorageError
from detector_app.storage import Project
from detector_app.storage.db import create_sqlite_engine, current_revision, head_revision, upgrade
from detector_app.storage.label_export import read_label_set
from detector_app.storage.label_import import import_label_set
from detector_app.storage.repository import Repository

from .helpers_storage import dump_database, write_image


@pytest.fixture
def project(project_dir: Path) -> Iterator[Project]:
    with Project.open(project_dir) as p:
        yield p


def _labels(folder: Path, splits: list[Split | str | None], first_box_id: int = 1) -> LabelSet:
    images = []
    for i, split in enumerate(splits):
        path = write_image(folder / f"img_{i}.png", 40, 30, color=i)
        box = Box("cat", (1.0, 2.0, 10.0, 5.0), id=first_box_id + i)
        images.append(LabelledImage(path.name, 40, 30, (box,), path=path, split=split))  # type: ignore[arg-type]
    return LabelSet((Category("cat", 1),), tuple(images))


def _splits_by_name(repo: Repository) -> dict[str, Split | None]:
    return {i.file_name: i.split for i in read_label_set(repo, "all").images}


def test_the_split_rule() -> None:
    assert [split_problem(v) for v in ("train", "val", "test", Split.VAL, None)] == [None] * 5
    for bad in ("Train", "validation", "", 1, "train "):
        problem = split_problem(bad)
        assert problem is not None and "is not a split (train, val, test)" in problem and "\n" not in problem


def test_splits_round_trip_through_a_project(project: Project, tmp_path: Path) -> None:
    repo = project.repo
    import_label_set(repo, _labels(tmp_path / "src", [Split.TRAIN, "val", None]), tmp_path / "src")
    exported = _splits_by_name(repo)
    assert exported == {"img_0.png": Split.TRAIN, "img_1.png": Split.VAL, "img_2.png": None}
    assert all(s is None or type(s) is Split for s in exported.values())  # the enum, as the model types it
    assert [r.split for r in repo.get_images(repo.image_ids())] == ["train", "val", None]

    ids = repo.image_ids()
    assert repo.set_split(ids[1:], "test") == 2
    assert _splits_by_name(repo) == {"img_0.png": Split.TRAIN, "img_1.png": Split.TEST, "img_2.png": Split.TEST}
    assert repo.set_split([ids[0]], None) == 1
    assert repo.split_counts() == {"train": 0, "val": 0, "test": 2, None: 1}
    assert "splits: train 0, val 0, test 2, none 1" in format_stats(repo)


def test_reimport_updates_the_split_only_when_the_file_gives_one(project: Project, tmp_path: Path) -> None:
    repo = project.repo
    folder = tmp_path / "src"
    import_label_set(repo, _labels(folder, [Split.TRAIN, Split.TRAIN, None]), folder)
    # The same files again, other boxes: the first names a new split, the others name none.
    import_label_set(repo, _labels(folder, [Split.VAL, None, None], first_box_id=100), folder)
    assert _splits_by_name(repo) == {"img_0.png": Split.VAL, "img_1.png": Split.TRAIN, "img_2.png": None}
    assert repo.count_images() == 3


def test_a_bad_split_in_a_label_set_is_refused_with_the_database_unchanged(project: Project, tmp_path: Path) -> None:
    repo = project.repo
    import_label_set(repo, _labels(tmp_path / "first", [Split.TRAIN]), tmp_path / "first")
    before = dump_database(project.db_path)
    with pytest.raises(LabelSetError) as caught:
        import_label_set(repo, _labels(tmp_path / "src", [Split.VAL, "validation"], first_box_id=10),
                         tmp_path / "src")
    message = str(caught.value)
    assert "img_1.png" in message and "'validation' is not a split (train, val, test)" in message
    assert "\n" not in message
    # A re-import of a known image with a bad split is refused too, before anything changes.
    with pytest.raises(LabelSetError):
        import_label_set(repo, _labels(tmp_path / "first", ["TRAIN"], first_box_id=50), tmp_path / "first")
    assert dump_database(project.db_path) == before


def test_set_split_refuses_a_bad_split_or_unknown_image_with_nothing_changed(project: Project,
                                                                             tmp_path: Path) -> None:
    repo = project.repo
    ids = [repo.add_image(write_image(tmp_path / f"{i}.png", 30, 20)).id for i in range(3)]
    repo.set_split(ids[:1], Split.VAL)
    before = dump_database(project.db_path)
    with pytest.raises(StorageError, match=r"'holdout' is not a split \(train, val, test\)"):
        repo.set_split(ids, "holdout")
    with pytest.raises(StorageError, match=f"image {ids[-1] + 7} is not in the project; no split was changed"):
        repo.set_split([*ids, ids[-1] + 7], "train")  # the known ids are not changed either
    assert dump_database(project.db_path) == before
    assert repo.get_image(ids[0]).split == "val"


def test_a_stored_split_outside_the_rule_refuses_the_export(project: Project, tmp_path: Path) -> None:
    repo = project.repo
    image_id = repo.add_image(write_image(tmp_path / "a.png", 30, 20)).id
    with sqlite3.connect(project.db_path) as conn:  # an edited database
        conn.execute("UPDATE images SET split = 'holdout' WHERE id = ?", (image_id,))
    with pytest.raises(StorageError, match=f"image {image_id} has a bad stored split: 'holdout' is not a split"):
        read_label_set(repo, "all")
    assert repo.split_counts()["holdout"] == 1  # counted as it is, for the user to see


def test_a_project_at_schema_0002_upgrades_with_no_split(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    db_path = folder / "project.db"
    engine = create_sqlite_engine(db_path)
    upgrade(engine, "0002")
    engine.dispose()
    write_image(folder / "a.png", 30, 20)
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO images (id, path, content_hash, width, height, origin, reviewed_at, created_at,"
                     " coco_id) VALUES (1, 'a.png', NULL, 30, 20, 'file', '2024-05-01', '2024-05-01', 9)")
    with Project.open(folder, create=False) as project:
        repo = project.repo
        assert current_revision(repo.engine) == head_revision()
        assert repo.get_image(1).split is None
        (image,) = read_label_set(repo, "all").images
        assert (image.id, image.split) == (9, None)
        assert repo.split_counts() == {"train": 0, "val": 0, "test": 0, None: 1}
        repo.set_split([1], "train")
        assert replace(image, split=Split.TRAIN) == read_label_set(repo, "all").images[0]
