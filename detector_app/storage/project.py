"""A project is a folder: ``project.db`` (SQLite) plus ``frames/`` for captured video and webcam frames.

A team project is a PostgreSQL database URL plus a media root: the folder (a shared mount, which each client may
see under its own path) that its image paths are stored relative to, with ``frames/`` inside it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path
from types import TracebackType

from sqlalchemy.exc import DatabaseError, OperationalError

from detector_app.errors import StorageError
from detector_app.paths import app_paths
from detector_app.storage.db import (
    check_schema_read_only,
    create_sqlite_engine,
    current_revision,
    migrate_to_head,
)
from detector_app.storage.postgres import (
    connection_problem,
    create_postgres_engine,
    display_url,
    is_database_url,
    parse_url,
)
from detector_app.storage.repository import Repository

log = logging.getLogger(__name__)

DB_NAME = "project.db"
FRAMES_DIR = "frames"
MEDIA_ROOT_ENV = "DETECTOR_APP_MEDIA_ROOT"  # this client's path of a team project's media root


def default_project_path() -> Path:
    """The project the app opens when none is chosen, in the user data folder."""
    return app_paths().default_project


class Project:
    """An open project. Thread-safe: every repository call uses its own short session."""

    def __init__(self, path: Path, repo: Repository, backup: Path | None) -> None:
        self.path = path
        self.repo = repo
        self.migration_backup = backup  # copy made before migrating an older database, if any
        self.read_only_reason: str | None = None  # why it is read-only (for the GUI's banner), if it is
        self.url: str | None = None  # a team project's database URL, password hidden; None for a folder

    @property
    def db_path(self) -> Path:
        """The SQLite file of a folder project (a team project has none: see ``url``)."""
        return self.path / DB_NAME

    @property
    def location(self) -> str:
        """What to show the user: the folder, or the database URL (password hidden)."""
        return self.url or str(self.path)

    @property
    def frames_dir(self) -> Path:
        return self.path / FRAMES_DIR

    @classmethod
    def open(cls, path: str | Path | None = None, create: bool = True, read_only: bool | None = None,
             media_root: str | Path | None = None) -> Project:
        """Open the project folder ``path`` (the default project when None), creating it if allowed.

        ``path`` may instead be a PostgreSQL URL (``postgresql+psycopg://user:password@host/db``): a team
        project, whose images are found under ``media_root`` (default: the ``DETECTOR_APP_MEDIA_ROOT``
        environment variable). An empty database becomes a project when ``create`` allows.

        A database from an older app version is migrated after a backup copy is made; one from a newer
        version, or a file that is not a project database, raises :class:`StorageError`.
        ``read_only``: None opens read-only exactly when the folder or database cannot be written (a
        read-only mount, no write permission); True always; False refuses a project that cannot be written.
        A read-only project is never migrated or changed: every write raises :class:`StorageError`.
        """
        if is_database_url(path):
            return cls._open_database(str(path), media_root, create, bool(read_only))
        folder = Path(path) if path is not None else default_project_path()
        folder = folder.expanduser().resolve()
        db_path = folder / DB_NAME
        _check_folder(folder, db_path, create)
        why_not = _not_writable(folder, db_path)
        if read_only is None:
            read_only = why_not is not None and db_path.is_file()
        elif read_only is False and why_not is not None and db_path.is_file():
            raise StorageError(f"the project {folder} is read-only ({why_not}); this needs to change it")
        if read_only:
            return cls._open_read_only(folder, db_path, why_not)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create project folder {folder}: {exc.strerror or exc}") from exc
        engine = create_sqlite_engine(db_path)
        try:
            backup = migrate_to_head(engine, db_path)
        except (OperationalError, DatabaseError, sqlite3.DatabaseError) as exc:
            engine.dispose()
            raise _open_error(db_path, exc) from exc
        except BaseException:
            engine.dispose()
            raise
        try:  # only once the database opened: a refused one (foreign file, newer schema) leaves the folder as is
            (folder / FRAMES_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            engine.dispose()
            raise StorageError(f"cannot create {folder / FRAMES_DIR}: {exc.strerror or exc}") from exc
        log.debug("opened project %s", folder)
        return cls(folder, Repository(engine, folder), backup)

    @classmethod
    def _open_read_only(cls, folder: Path, db_path: Path, why: str | None) -> Project:
        if not db_path.is_file():
            raise StorageError(f"{folder} is not a project (no {DB_NAME} in it)")
        # Without write access to the folder SQLite cannot make the -wal/-shm files a WAL reader needs:
        # read the file as it is (immutable).
        immutable = not os.access(folder, os.W_OK)
        engine = create_sqlite_engine(db_path, read_only=True, immutable=immutable)
        try:
            check_schema_read_only(engine, db_path)
        except (OperationalError, DatabaseError, sqlite3.DatabaseError) as exc:
            engine.dispose()
            raise _open_error(db_path, exc) from exc
        except BaseException:
            engine.dispose()
            raise
        log.info("opened project %s read-only (%s)", folder, why or "as asked")
        project = cls(folder, Repository(engine, folder), None)
        project.read_only_reason = why or "opened read-only"
        return project

    @classmethod
    def _open_database(cls, location: str, media_root: str | Path | None, create: bool,
                       read_only: bool) -> Project:
        url = parse_url(location)
        shown = display_url(url)
        root = _media_root(media_root, shown)
        engine = create_postgres_engine(url, read_only=read_only)
        try:
            if read_only:
                check_schema_read_only(engine, shown)
            elif not create and current_revision(engine) is None:
                raise StorageError(f"{shown} is not a detector-app project yet (the database has no project "
                                   "tables); open it with a command that creates one, such as import")
            backup = None if read_only else migrate_to_head(engine, shown)
        except (OperationalError, DatabaseError) as exc:
            engine.dispose()
            raise connection_problem(url, exc) from None
        except BaseException:
            engine.dispose()
            raise
        if not read_only:
            try:
                (root / FRAMES_DIR).mkdir(exist_ok=True)
            except OSError as exc:
                engine.dispose()
                raise StorageError(f"cannot create {root / FRAMES_DIR}: {exc.strerror or exc}") from exc
        log.debug("opened team project %s (media root %s)", shown, root)
        project = cls(root, Repository(engine, root), backup)
        project.url = shown
        if read_only:
            project.read_only_reason = "opened read-only"
        return project

    @property
    def read_only(self) -> bool:
        """True when the project was opened read-only: it can be viewed and exported, not changed."""
        return self.repo.read_only

    def close(self) -> None:
        """Close every connection; the last one to close checkpoints the WAL into project.db."""
        self.repo.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({self.location!r})"


def _media_root(media_root: str | Path | None, shown: str) -> Path:
    """This client's path of a team project's media root, which must exist (a missing mount is reported)."""
    value = media_root if media_root is not None else os.environ.get(MEDIA_ROOT_ENV) or None
    if value is None:
        raise StorageError(f"the team project {shown} needs its media root, the folder its images are stored "
                           f"relative to: give --media-root FOLDER (or set {MEDIA_ROOT_ENV})")
    root = Path(value).expanduser().resolve()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist (is the shared folder mounted?)"
        raise StorageError(f"the media root {root} of the team project {shown} {what}; give this machine's path "
                           f"of the shared media folder with --media-root (or {MEDIA_ROOT_ENV})")
    return root


def _check_folder(folder: Path, db_path: Path, create: bool) -> None:
    """Refuse, with what is wrong, a folder that is not (and cannot become) a project."""
    if folder.exists() and not folder.is_dir():
        raise StorageError(f"{folder} is a file, not a project folder")
    frames = folder / FRAMES_DIR
    if os.path.lexists(frames) and not frames.is_dir():
        raise StorageError(f"{frames} should be a folder for captured frames but is a file; "
                           "move it away (or rename it) to open the project")
    if os.path.lexists(db_path):
        _check_database_file(db_path)
    elif not create:
        raise StorageError(f"{folder} is not a project (no {DB_NAME} in it)")


def _check_database_file(db_path: Path) -> None:
    """``project.db`` must be a non-empty SQLite file: anything else is reported, never replaced."""
    hint = "move it away (or delete it) to start a new project in this folder"
    try:
        info = db_path.stat()
    except OSError as exc:
        raise StorageError(f"cannot read {db_path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StorageError(f"{db_path} is a folder, not a project database; {hint}")
    if not stat.S_ISREG(info.st_mode):
        raise StorageError(f"{db_path} is not a regular file (a pipe, socket or device); {hint}")
    if info.st_size == 0:
        raise StorageError(f"{db_path} is empty (0 bytes): not a project database; {hint}")
    # The file is not read here: closing any descriptor of it drops every POSIX lock this process holds on
    # it, including those of a connection that already has the project open (the GUI while the Train dialog
    # opens it again). Another process could then checkpoint and delete the -wal/-shm under that connection,
    # which goes on reading a stale, inconsistent view. A file that is not SQLite is reported from SQLite's
    # own error when it is opened (_open_error).


def _open_error(db_path: Path, exc: BaseException) -> StorageError:
    """The one line for a database SQLite could not open; a file that is not SQLite says so."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
        return StorageError(f"cannot open project database {db_path}: it is not an SQLite database (or its header "
                            "is damaged); move it away (or delete it) to start a new project in this folder")
    return StorageError(f"cannot open project database {db_path}: {_reason(exc)}")


def _not_writable(folder: Path, db_path: Path) -> str | None:
    """Why the project cannot be written (a read-only mount, missing permission), or None when it can.

    ``os.access`` answers for the real user and also reports a read-only file system (EROFS).
    """
    for path, what in ((db_path, "its database"), (folder, "its folder")):
        if os.path.lexists(path) and not os.access(path, os.W_OK):
            return f"{what} {path} is not writable"
    return None


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc)
