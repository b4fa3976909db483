"""The ``project_source`` fixture: the same test on an SQLite project folder and on a PostgreSQL team project.

One throw-away PostgreSQL server per test session (tests/pg_server.py); each PostgreSQL test gets a new empty
database that ``Project.open`` migrates, as it would a team's new database, and drops it afterwards. Where
PostgreSQL cannot be installed or started the PostgreSQL tests fail with the reason (CI must not lose them
silently); ``DETECTOR_APP_TEST_POSTGRES=0`` skips them on a developer machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from detector_app.storage import Project

    from .pg_server import PostgresServer


@dataclass(frozen=True)
class ProjectSource:
    """Where a test's project lives: a folder, or a database URL with that folder as its media root."""

    backend: str  # "sqlite" or "postgresql"
    folder: Path  # the project folder (SQLite) or the media root (PostgreSQL)
    url: str | None = None

    def open(self, **kwargs: Any) -> Project:
        from detector_app.storage import Project

        if self.url is None:
            return Project.open(self.folder, **kwargs)
        return Project.open(self.url, media_root=self.folder, **kwargs)

    def engine(self) -> Engine:
        """A bare engine on the project's database (no migration, no checks)."""
        from detector_app.storage.db import create_sqlite_engine
        from detector_app.storage.postgres import create_postgres_engine, parse_url

        if self.url is None:
            return create_sqlite_engine(self.folder / "project.db")
        return create_postgres_engine(parse_url(self.url))

    @property
    def cli_args(self) -> list[str]:
        """The ``detector-app`` options that name this project."""
        if self.url is None:
            return ["--project", str(self.folder)]
        return ["--project", self.url, "--media-root", str(self.folder)]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from . import pg_server

    if pg_server.opted_out():
        pytest.skip(f"PostgreSQL tests switched off ({pg_server.OPT_OUT}=0)")
    try:
        server = pg_server.start()
    except pg_server.PostgresUnavailable as exc:
        pytest.fail(f"{exc} (set {pg_server.OPT_OUT}=0 to skip the PostgreSQL tests)", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def project_source(request: pytest.FixtureRequest, project_dir: Path) -> Iterator[ProjectSource]:
    """An empty project location on each backend (``project_dir`` is the folder, or the media root)."""
    if request.param == "sqlite":
        yield ProjectSource("sqlite", project_dir)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    yield ProjectSource("postgresql", project_dir, url)
    server.drop_database(name)


def dump_project(engine: Engine, *, bookkeeping: bool = True) -> list[str]:
    """Every row (SQLite: and the schema, sqlite_sequence included) as text: equal dumps mean an unchanged
    database, on either backend. ``bookkeeping=False`` leaves out each box's revision and author, which an
    undo moves forward instead of back (storage/team.py), and the SQLite schema."""
    from sqlalchemy import select

    from detector_app.storage.models import Annotation, Base

    if engine.dialect.name == "sqlite" and bookkeeping:
        from .helpers_storage import dump_database

        return dump_database(Path(str(engine.url.database)))
    left_out = set() if bookkeeping else {Annotation.__table__.c.revision, Annotation.__table__.c.updated_by}
    with engine.connect() as conn:
        return [f"{table.name}: {tuple(row)!r}" for table in Base.metadata.sorted_tables
                for row in conn.execute(select(*(c for c in table.columns if c not in left_out))
                                        .order_by(*table.primary_key.columns))]
