"""Sessions and stored paths of a project database: the base every store of the repository builds on."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from detector_app.errors import StorageError
from detector_app.storage.db import is_read_only, write_engine


class ProjectDatabase:
    """Short sessions (one per call, so threads can share it) and project-relative paths."""

    def __init__(self, engine: Engine, root: Path) -> None:
        self.engine = engine
        self.root = Path(root).resolve()
        self._root_text = str(self.root)
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(write_engine(engine), expire_on_commit=False)
        self.read_only = is_read_only(engine)

    @property
    def frames_dir(self) -> Path:
        return self.root / "frames"

    # --- sessions ---------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on exit, rolled back on any error.

        A read-only project refuses at once, before any statement runs.
        """
        self.check_writable()
        try:
            with self._writer.begin() as session:
                yield session
        except IntegrityError as exc:
            raise StorageError(f"the change breaks a database rule and was not saved: {exc.orig}") from exc
        except DatabaseError as exc:  # locked past the busy timeout, disk full, damaged file
            raise StorageError(f"could not write the project database: {exc.orig}") from exc

    def check_writable(self) -> None:
        """Raise the one read-only message before a change (also before writing a file into the project)."""
        if self.read_only:
            raise StorageError(f"the project {self.root} is open read-only: the change was not saved")

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A plain connection for the hot read paths (no ORM session: a third of the cost per call)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except DatabaseError as exc:
            raise StorageError(f"could not read the project database: {exc.orig}") from exc

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only snapshot: WAL readers see committed data and never block writers."""
        try:
            with self._reader.begin() as session:
                yield session
        except DatabaseError as exc:
            raise StorageError(f"could not read the project database: {exc.orig}") from exc

    # --- paths ------------------------------------------------------------------------------------

    def stored_path(self, path: str | Path) -> str:
        """How a file path is stored: relative (POSIX) inside the project folder, else absolute."""
        if os.sep == "/" and not os.altsep:  # POSIX: with strings, 5x faster than pathlib (imports store 100,000s)
            full = _resolve_text(os.path.expanduser(os.fspath(path)))
            root = self._root_text
            if full == root:
                return "."
            return full[len(root) + 1:] if full.startswith(root + "/") and root != "/" else full
        full_path = _resolve(Path(path).expanduser())
        try:
            return full_path.relative_to(self.root).as_posix()
        except ValueError:
            return full_path.as_posix()

    def absolute_path(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path


@functools.lru_cache(maxsize=4096)
def _resolve_dir(folder: str) -> Path:
    return Path(folder).resolve()


@functools.lru_cache(maxsize=4096)
def _real_dir(folder: str) -> str:
    return os.path.realpath(folder)


def _resolve_text(text: str) -> str:
    """``_resolve`` on POSIX path text (the same result: absolute, symlinks resolved in the folders only)."""
    text = text.rstrip("/") or text  # "x.png/" names x.png, as pathlib reads it; "/" stays
    folder, name = os.path.split(text)
    if name in ("", ".", ".."):
        return os.path.realpath(text)
    folder = folder if folder.startswith("/") else os.path.join(os.getcwd(), folder)
    real = _real_dir(folder)
    return real + name if real.endswith("/") else f"{real}/{name}"


def _resolve(path: Path) -> Path:
    """``path`` made absolute with symlinks resolved in its folders (cached: imports store thousands)."""
    if path.name in ("", ".", ".."):
        return path.resolve()
    return _resolve_dir(str(path.parent.absolute())) / path.name
