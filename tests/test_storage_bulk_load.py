"""An import into a new project builds the boxes' indexes and (PostgreSQL) checks their foreign keys once, at
the end, instead of row by row (storage/bulk_load.py). Whatever happens the indexes and constraints come back
exactly as they were, the keys keep refusing bad rows and queries use the indexes; and where a PostgreSQL import
cannot take the tables' locks (another session holds one, or its role does not own the tables) it works row by
row as before, without an error."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from detector_app.formats.coco_validate import CocoValidationError
from detector_app.storage import bulk_load, label_import
from detector_app.transfer.importing import import_coco

from .backends import ProjectSource, dump_project
from .helpers_storage import small_dataset
from .pg_server import PORT, PostgresServer


@pytest.fixture
def new_project(project_source: ProjectSource) -> ProjectSource:
    with project_source.open():  # the schema, made by its owner
        pass
    return project_source


@pytest.fixture
def team(postgres_server: PostgresServer, project_dir: Path) -> Iterator[ProjectSource]:
    name = f"keys_{uuid.uuid4().hex[:12]}"
    source = ProjectSource("postgresql", project_dir, postgres_server.create_database(name))
    with source.open():  # the schema, made by its owner
        pass
    yield source
    postgres_server.drop_database(name)


@pytest.fixture
def dropped(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each import's ``built_at_end`` block yielded (True: built and checked once at the end)."""
    seen: list[bool] = []
    real = label_import.built_at_end

    @contextlib.contextmanager
    def spy(*args: object) -> Iterator[bool]:
        with real(*args) as result:
            seen.append(result)
            yield result

    monkeypatch.setattr(label_import, "built_at_end", spy)
    return seen


def schema(engine: Engine) -> list[tuple[str, ...]]:
    """Every index and foreign key, as the database itself writes them."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return [tuple(row) for row in conn.execute(text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"))]
        return [tuple(row) for row in conn.execute(text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY 1, 2"))]


def assert_index_used(engine: Engine) -> None:
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
        for where, index in (("category_id = 1", "ix_annotations_category_image"),
                             ("image_id = 2 AND status = 'accepted'", "ix_annotations_image_status")):
            plan = " ".join(str(row) for row in conn.execute(text(f"{explain}SELECT id FROM annotations WHERE {where}")))
            assert index in plan, plan


def assert_keys_enforced(engine: Engine) -> None:
    with engine.begin() as conn:
        category = conn.scalar(text("SELECT min(id) FROM categories"))
    for bad in ({"image": 10**9, "category": category}, {"image": None, "category": 10**9}):
        with pytest.raises(IntegrityError, match="(?i)foreign key"), engine.begin() as conn:
            image = bad["image"] or conn.scalar(text("SELECT min(id) FROM images"))
            conn.execute(text("INSERT INTO annotations (image_id, category_id, x, y, w, h, origin, status, iscrowd, "
                              "created_at, updated_at) VALUES (:i, :c, 1, 1, 2, 2, 'human', 'accepted', 0, "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"i": image, "c": bad["category"]})


def test_a_new_project_builds_them_once_and_gets_them_back_unchanged(
        new_project: ProjectSource, dropped: list[bool]) -> None:
    engine = new_project.engine()
    with engine.begin() as conn:  # an index whose definition holds what SQLAlchemy could read as a parameter
        conn.execute(text("CREATE INDEX ix_test_colon ON annotations (coco_id) WHERE updated_by <> 'see \\:name%'"))
    before = schema(engine)
    assert any("ix_annotations_category_image" in row for row in before)
    assert any("'see :name%'" in str(row) for row in before)
    json_path, images_dir = small_dataset(new_project.folder / "set", n_images=5)
    with new_project.open() as project:
        report = import_coco(project.repo, json_path, images_dir)
        assert report.annotations_added == 10 and project.repo.count_images() == 5
        more_json, more_dir = small_dataset(new_project.folder / "more", n_images=2)
        import_coco(project.repo, more_json, more_dir)  # the project has images now: row by row
        assert len(project.repo.annotations_for_image(project.repo.image_ids()[0])) == 2
    assert dropped == [True]  # the second import did not ask
    assert schema(engine) == before
    assert_keys_enforced(engine)
    assert_index_used(engine)


def test_a_refused_import_leaves_the_new_project_as_it_was(new_project: ProjectSource, dropped: list[bool]) -> None:
    engine = new_project.engine()
    before, rows = schema(engine), dump_project(engine)
    json_path, images_dir = small_dataset(new_project.folder / "set", n_images=4)
    data = json.loads(json_path.read_text())
    (images_dir / data["images"][-1]["file_name"]).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with new_project.open() as project, pytest.raises(CocoValidationError, match="not a readable image"):
        import_coco(project.repo, json_path, images_dir)
    assert dropped == [True]
    assert schema(engine) == before and dump_project(engine) == rows


@pytest.mark.postgres
def test_another_sessions_lock_means_per_row_checks_not_an_error(
        team: ProjectSource, dropped: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_load, "LOCK_WAIT", "200ms")
    engine = team.engine()
    before = schema(engine)
    json_path, images_dir = small_dataset(team.folder / "set", n_images=3)
    with engine.connect() as reader, team.open() as project:
        reader.execute(text("SELECT count(*) FROM categories"))  # its open transaction holds a lock on the table
        report = import_coco(project.repo, json_path, images_dir)
        reader.rollback()
    assert dropped == [False] and report.annotations_added == 6
    assert schema(engine) == before
    assert_keys_enforced(engine)


@pytest.mark.postgres
def test_a_role_that_does_not_own_the_tables_checks_per_row(
        team: ProjectSource, postgres_server: PostgresServer, dropped: list[bool]) -> None:
    role, password = f"annotator_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    database = str(team.engine().url.database)
    with postgres_server.admin() as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD \'{password}\'')
    with psycopg.connect(host=str(postgres_server.socket_dir), port=PORT, user="postgres",
                         password=postgres_server.password, dbname=database, autocommit=True) as owner:
        owner.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        owner.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    url = (f"postgresql+psycopg://{role}:{password}@/{database}?host={postgres_server.socket_dir}&port={PORT}")
    before = schema(team.engine())
    json_path, images_dir = small_dataset(team.folder / "set", n_images=3)
    try:
        with ProjectSource("postgresql", team.folder, url).open() as project:
            report = import_coco(project.repo, json_path, images_dir)
        assert dropped == [False] and report.annotations_added == 6
        assert schema(team.engine()) == before
    finally:
        postgres_server.drop_database(database)  # its objects hold grants to the role
        with postgres_server.admin() as admin:
            admin.execute(f'DROP ROLE "{role}"')
