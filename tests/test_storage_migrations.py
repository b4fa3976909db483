"""Schema migrations: an old database is upgraded (after a backup) with all rows kept; a newer one is refused."""

from __future__ import annotations

import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from detector_app.errors import StorageError
from detector_app.storage import Project
from detector_app.storage.db import (
    MIGRATIONS_DIR,
    create_sqlite_engine,
    current_revision,
    head_revision,
    upgrade,
)
from detector_app.storage.models import Base

from .backends import ProjectSource, dump_project
from .conftest import REPO_ROOT
from .helpers_storage import dump_database

FIRST = "0001"
NOW = datetime(2024, 5, 1, 12, 0, 0)


def make_first_revision_db(folder: Path) -> Path:
    """A project database at the first schema revision, filled with plain SQL (the ORM is at head)."""
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "project.db"
    engine = create_sqlite_engine(db_path)
    upgrade(engine, FIRST)
    engine.dispose()
    with sqlite3.connect(db_path) as conn:
        conn.executemany(
            "INSERT INTO images (id, path, content_hash, width, height, origin, video_path, frame_index, reviewed_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "frames/a.jpg", "ab" * 32, 640, 480, "video", "/v/street.avi", 7, None, NOW),
             (2, "/data/b.png", None, 320, 200, "file", None, None, NOW, NOW)])
        conn.executemany("INSERT INTO categories (id, name, coco_id, color, supercategory) VALUES (?, ?, ?, ?, ?)",
                         [(1, "person", 1, "#ff0000", "human"), (2, "car", 3, "#00ff00", "")])
        conn.execute("INSERT INTO model_versions (id, name, preset, class_names, weights_path, parent_id, metrics,"
                     " settings, is_active, created_at) VALUES (1, 'base', 'retinanet_light',"
                     " '[\"__background__\", \"person\", \"car\"]', 'models/base.pth', NULL, '{\"map\": 0.4}',"
                     " '{}', 1, ?)", (NOW,))
        conn.executemany(
            "INSERT INTO annotations (id, image_id, category_id, x, y, w, h, score, origin, status, iscrowd,"
            " model_version_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, 1, 1, 10.5, 20.25, 30.0, 40.0, 0.91, "model", "predicted", 0, 1, NOW, NOW),
             (2, 1, 2, 1.0, 2.0, 3.0, 4.0, None, "human", "accepted", 1, None, NOW, NOW),
             (3, 2, 2, 5.0, 6.0, 7.0, 8.0, 0.5, "model", "rejected", 0, 1, NOW, NOW)])
        conn.execute("INSERT INTO training_runs (id, settings, status, log, metrics, model_version_id, created_at,"
                     " finished_at) VALUES (1, '{\"epochs\": 3}', 'finished', 'done', '{}', 1, ?, ?)", (NOW, NOW))
    return db_path


def test_there_are_several_revisions_and_the_first_is_the_base() -> None:
    versions = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert versions[0].startswith(FIRST) and len(versions) >= 2
    assert head_revision() != FIRST


def test_first_revision_database_is_upgraded_with_every_row(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    db_path = make_first_revision_db(folder)
    before = dump_database(db_path)

    with Project.open(folder, create=False) as project:
        repo = project.repo
        backup = project.migration_backup
        assert backup is not None and backup.name.startswith(f"project.db.bak-{FIRST}-")
        assert current_revision(repo.engine) == head_revision()

        first, second = repo.get_images([1, 2])
        assert (first.path, first.width, first.origin, first.video_path, first.frame_index) == (
            project.path / "frames" / "a.jpg", 640, "video", "/v/street.avi", 7)
        assert not first.reviewed and second.reviewed and second.path == Path("/data/b.png")
        assert first.created_at == NOW.replace(tzinfo=UTC) and first.coco_id is None
        assert [(c.name, c.coco_id) for c in repo.categories()] == [("person", 1), ("car", 3)]
        anns = repo.annotations_for_image(1) + repo.annotations_for_image(2)
        assert [(a.id, a.category_name, a.bbox, a.score, a.status, a.iscrowd, a.model_version_id) for a in anns] == [
            (1, "person", (10.5, 20.25, 30.0, 40.0), 0.91, "predicted", 0, 1),
            (2, "car", (1.0, 2.0, 3.0, 4.0), None, "accepted", 1, None),
            (3, "car", (5.0, 6.0, 7.0, 8.0), 0.5, "rejected", 0, 1),
        ]
        version = repo.active_model_version()
        assert version is not None and version.class_names == ("__background__", "person", "car")
        assert version.metrics == {"map": 0.4}
        assert repo.get_training_run(1).settings == {"epochs": 3}
        assert repo.image_ids("unreviewed") == [1]  # the new review-state index is usable
        # New writes work on the migrated schema.
        assert repo.add_annotation(1, "person", (1, 1, 2, 2)).id == 4

    assert dump_database(backup) == before  # the backup is the untouched old database
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(images)")}
    assert "ix_images_reviewed_at" in indexes


def test_current_database_is_not_backed_up_again(project_dir: Path) -> None:
    Project.open(project_dir).close()
    with Project.open(project_dir) as project:
        assert project.migration_backup is None
    assert not list(project_dir.glob("project.db.bak-*"))


def test_database_from_a_newer_version_is_refused_untouched(project_dir: Path) -> None:
    Project.open(project_dir).close()
    db_path = project_dir / "project.db"
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    before = dump_database(db_path)
    with pytest.raises(StorageError, match="newer version of detector-app.*9999_from_the_future"):
        Project.open(project_dir)
    assert dump_database(db_path) == before
    assert not list(project_dir.glob("project.db.bak-*"))


def test_database_from_a_newer_version_is_refused_on_either_backend(project_source: ProjectSource) -> None:
    project_source.open().close()
    engine = project_source.engine()
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    before = dump_project(engine)
    with pytest.raises(StorageError, match="newer version of detector-app.*9999_from_the_future"):
        project_source.open()
    assert dump_project(engine) == before
    engine.dispose()


def test_a_database_with_other_tables_is_not_taken_over(project_source: ProjectSource) -> None:
    engine = project_source.engine()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    with pytest.raises(StorageError, match="not a detector-app project"):
        project_source.open()
    with engine.connect() as conn:
        assert not inspect(conn).has_table("images")
    engine.dispose()


def test_migrated_schema_matches_the_models(project_source: ProjectSource) -> None:
    engine = project_source.engine()
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diffs == []


def test_box_indexes_on_optional_columns_hold_only_boxes_that_have_a_value(project_source: ProjectSource) -> None:
    """0006: the model-version and track indexes are partial, and a query for one value still uses them."""
    engine = project_source.engine()
    upgrade(engine)
    with engine.connect() as conn:
        for name, column in (("ix_annotations_model_version", "model_version_id"), ("ix_annotations_track", "track_id")):
            if engine.dialect.name == "sqlite":
                definition = conn.exec_driver_sql(f"SELECT sql FROM sqlite_master WHERE name = '{name}'").scalar()
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN SELECT id FROM annotations WHERE {column} = 3"))
            else:
                definition = conn.exec_driver_sql(f"SELECT indexdef FROM pg_indexes WHERE indexname = '{name}'").scalar()
                conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table: make the planner show its choice
                plan = " ".join(r[0] for r in conn.exec_driver_sql(
                    f"EXPLAIN SELECT id FROM annotations WHERE {column} = 3"))
            assert f"WHERE {column} IS NOT NULL" in definition.replace("(", "").replace(")", "")
            assert name in plan
    engine.dispose()


def test_downgrade_and_upgrade_again(project_source: ProjectSource) -> None:
    from alembic import command

    from detector_app.storage.db import alembic_config, write_engine

    engine = project_source.engine()
    upgrade(engine)
    with write_engine(engine).begin() as conn:
        command.downgrade(alembic_config(conn), FIRST)
    assert current_revision(engine) == FIRST
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_package_data_ships_every_migration_file() -> None:
    """pyproject's package-data globs must match each file alembic needs once installed as a wheel."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["detector_app"]
    package = REPO_ROOT / "detector_app"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    needed = {p for p in MIGRATIONS_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert needed and needed <= shipped


def test_schema_head_constant_names_the_newest_migration() -> None:
    """Opening a current project skips alembic by comparing with SCHEMA_HEAD, so it must be the real head."""
    from detector_app.storage.db import SCHEMA_HEAD

    assert SCHEMA_HEAD == head_revision()


def test_previous_release_project_gets_provenance_and_loses_nothing(tmp_path: Path) -> None:
    """A project at 0003 (the last release) upgrades in place; unchanged model boxes get their proposal back."""
    folder = tmp_path / "release"
    db_path = make_first_revision_db(folder)
    engine = create_sqlite_engine(db_path)
    upgrade(engine, "0003")
    engine.dispose()
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO annotations (id, image_id, category_id, x, y, w, h, score, origin, status, iscrowd,"
                     " model_version_id, created_at, updated_at) VALUES (4, 2, 1, 9, 9, 9, 9, 0.7, 'model',"
                     " 'corrected', 0, 1, ?, ?)", (NOW, NOW))
        conn.execute("UPDATE images SET split = 'test' WHERE id = 2")
    before = _rows_by_table(db_path)

    with Project.open(folder, create=False) as project:
        assert current_revision(project.repo.engine) == head_revision()
        backup = project.migration_backup
    after = _rows_by_table(db_path)
    assert backup is not None and _rows_by_table(backup) == before
    old_columns = {table: set(rows[0]) if rows else set() for table, rows in before.items()}
    for table, rows in before.items():  # every old row and value is still there
        assert [{k: v for k, v in row.items() if k in old_columns[table]} for row in after[table]] == rows
    proposals = {row["id"]: (row["proposal_x"], row["proposal_y"], row["proposal_w"], row["proposal_h"],
                             row["proposal_category_id"], row["proposal_score"], row["revision"])
                 for row in after["annotations"]}
    assert proposals == {
        1: (10.5, 20.25, 30.0, 40.0, 1, 0.91, 1),  # predicted: the proposal is the box
        2: (None, None, None, None, None, None, 1),  # drawn by a person: no proposal
        3: (5.0, 6.0, 7.0, 8.0, 2, 0.5, 1),  # rejected: unchanged
        4: (None, None, None, None, None, None, 1),  # corrected before provenance: not known
    }
    assert after["review_times"] == []


def _rows_by_table(db_path: Path) -> dict[str, list[dict[str, object]]]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                             " AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'")]
        return {t: [dict(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY rowid")] for t in tables}


def test_project_at_0004_gets_video_tasks_and_loses_nothing(tmp_path: Path) -> None:
    """0005 adds videos, tracks and two annotation columns; every 0004 row and value stays, boxes get no track."""
    folder = tmp_path / "at0004"
    db_path = make_first_revision_db(folder)
    engine = create_sqlite_engine(db_path)
    upgrade(engine, "0004")
    engine.dispose()
    before = _rows_by_table(db_path)

    with Project.open(folder, create=False) as project:
        assert current_revision(project.repo.engine) == head_revision()
    after = _rows_by_table(db_path)
    for table, rows in before.items():
        columns = set(rows[0]) if rows else set()
        assert [{k: v for k, v in row.items() if k in columns} for row in after[table]] == rows
    assert [(r["id"], r["track_id"], r["keyframe"]) for r in after["annotations"]] == [
        (1, None, 0), (2, None, 0), (3, None, 0)]
    assert after["videos"] == [] and after["tracks"] == []
    with sqlite3.connect(db_path) as conn:  # the table was altered in place: AUTOINCREMENT and the new FK kept
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'annotations'").fetchone()[0]
        fks = {(r[2], r[3]) for r in conn.execute("PRAGMA foreign_key_list(annotations)")}
    assert "AUTOINCREMENT" in sql and ("tracks", "track_id") in fks
