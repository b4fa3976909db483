"""A project is a folder: ``project.db`` (SQLite) plus ``frames/`` for captured video and webcam frames."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from types import TracebackType

from sqlalchemy.exc import DatabaseError, OperationalError

from detector_app.errors import StorageError
from detector_app.paths import app_paths
from detector_app.storage.db import create_sqlite_engine, migrate_to_head
from detector_app.storage.repository import Repository

log = logging.getLogger(__name__)

DB_NAME = "project.db"
FRAMES_DIR = "frames"


def default_project_path() -> Path:
    """The project the app opens when none is chosen, in the user data folder."""
    return app_paths().default_project


class Project:
    """An open project. Thread-safe: every repository call uses its own short session."""

    def __init__(self, path: Path, repo: Repository, backup: Path | None) -> None:
        self.path = path
        self.repo = repo
        self.migration_backup = backup  # copy made before migrating an older database, if any

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def frames_dir(self) -> Path:
        return self.path / FRAMES_DIR

    @classmethod
    def open(cls, path: str | Path | None = None, create: bool = True) -> Project:
        """Open the project folder ``path`` (the default project when None), creating it if allowed.

        A database from an older app version is migrated after a backup copy is made; one from a newer
        version, or a file that is not a project database, raises :class:`StorageError`.
        """
        folder = Path(path) if path is not None else default_project_path()
        folder = folder.expanduser().resolve()
        db_path = folder / DB_NAME
        _check_folder(folder, db_path, create)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / FRAMES_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create project folder {folder}: {exc.strerror or exc}") from exc
        engine = create_sqlite_engine(db_path)
        try:
            backup = migrate_to_head(engine, db_path)
        except (OperationalError, DatabaseError, sqlite3.DatabaseError) as exc:
            engine.dispose()
            raise StorageError(f"cannot open project database {db_path}: {_reason(exc)}") from exc
        except BaseException:
            engine.dispose()
            raise
        log.debug("opened project %s", folder)
        return cls(folder, Repository(engine, folder), backup)

    def close(self) -> None:
        """Close every connection; the last one to close checkpoints the WAL into project.db."""
        self.repo.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({str(self.path)!r})"


def _check_folder(folder: Path, db_path: Path, create: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise StorageError(f"{folder} is a file, not a project folder")
    if not create and not db_path.is_file():
        raise StorageError(f"{folder} is not a project (no {DB_NAME} in it)")


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc)
