"""An import into a new PostgreSQL project checks the boxes' foreign keys once, at the end, instead of one query
per row (storage/pg_foreign_keys.py). Whatever happens the constraints come back exactly as they were and keep
refusing bad rows; and where the import cannot take the tables' locks (another session holds one, or its role
does not own the tables) it checks per row as before, without an error."""

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
from detector_app.storage import label_import, pg_foreign_keys
from detector_app.transfer.importing import import_coco

from .backends import ProjectSource, dump_project
from .helpers_storage import small_dataset
from .pg_server import PORT, PostgresServer

pytestmark = pytest.mark.postgres


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
    """What each import's ``foreign_keys_checked_at_end`` block yielded (True: checked once at the end)."""
    seen: list[bool] = []
    real = label_import.foreign_keys_checked_at_end

    @contextlib.contextmanager
    def spy(*args: object) -> Iterator[bool]:
        with real(*args) as result:
            seen.append(result)
            yield result

    monkeypatch.setattr(label_import, "foreign_keys_checked_at_end", spy)
    return seen


def foreign_keys(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' ORDER BY 1, 2"))]


def assert_keys_enforced(engine: Engine) -> None:
    with engine.begin() as conn:
        category = conn.scalar(text("SELECT min(id) FROM categories"))
    for bad in ({"image": 10**9, "category": category}, {"image": None, "category": 10**9}):
        with pytest.raises(IntegrityError, match="foreign key"), engine.begin() as conn:
            image = bad["image"] or conn.scalar(text("SELECT min(id) FROM images"))
            conn.execute(text("INSERT INTO annotations (image_id, category_id, x, y, w, h, origin, status, iscrowd, "
                              "created_at, updated_at) VALUES (:i, :c, 1, 1, 2, 2, 'human', 'accepted', 0, now(), now())"),
                         {"i": image, "c": bad["category"]})


def test_a_new_project_checks_the_keys_once_and_gets_them_back_unchanged(
        team: ProjectSource, dropped: list[bool]) -> None:
    engine = team.engine()
    before = foreign_keys(engine)
    assert ("annotations", "annotations_image_id_fkey", "FOREIGN KEY (image_id) REFERENCES images(id) "
            "ON DELETE CASCADE") in before
    json_path, images_dir = small_dataset(team.folder / "set", n_images=5)
    with team.open() as project:
        report = import_coco(project.repo, json_path, images_dir)
        assert report.annotations_added == 10 and project.repo.count_images() == 5
        more_json, more_dir = small_dataset(team.folder / "more", n_images=2)
        import_coco(project.repo, more_json, more_dir)  # the project has images now: checked per row
    assert dropped == [True]  # the second import did not ask
    assert foreign_keys(engine) == before
    assert_keys_enforced(engine)


def test_a_refused_import_leaves_the_new_project_and_its_keys_as_they_were(
        team: ProjectSource, dropped: list[bool]) -> None:
    engine = team.engine()
    before, rows = foreign_keys(engine), dump_project(engine)
    json_path, images_dir = small_dataset(team.folder / "set", n_images=4)
    data = json.loads(json_path.read_text())
    (images_dir / data["images"][-1]["file_name"]).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with team.open() as project, pytest.raises(CocoValidationError, match="not a readable image"):
        import_coco(project.repo, json_path, images_dir)
    assert dropped == [True]
    assert foreign_keys(engine) == before and dump_project(engine) == rows


def test_another_sessions_lock_means_per_row_checks_not_an_error(
        team: ProjectSource, dropped: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_foreign_keys, "LOCK_WAIT", "200ms")
    engine = team.engine()
    before = foreign_keys(engine)
    json_path, images_dir = small_dataset(team.folder / "set", n_images=3)
    with engine.connect() as reader, team.open() as project:
        reader.execute(text("SELECT count(*) FROM categories"))  # its open transaction holds a lock on the table
        report = import_coco(project.repo, json_path, images_dir)
        reader.rollback()
    assert dropped == [False] and report.annotations_added == 6
    assert foreign_keys(engine) == before
    assert_keys_enforced(engine)


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
    before = foreign_keys(team.engine())
    json_path, images_dir = small_dataset(team.folder / "set", n_images=3)
    try:
        with ProjectSource("postgresql", team.folder, url).open() as project:
            report = import_coco(project.repo, json_path, images_dir)
        assert dropped == [False] and report.annotations_added == 6
        assert foreign_keys(team.engine()) == before
    finally:
        postgres_server.drop_database(database)  # its objects hold grants to the role
        with postgres_server.admin() as admin:
            admin.execute(f'DROP ROLE "{role}"')
