"""Team projects on a PostgreSQL server: recognising a database URL, the engine, one-line connection errors.

A team project is a database URL (``postgresql+psycopg://user:password@host/dbname``) plus a media root, the
folder (usually a shared mount) that image paths are stored relative to. The driver is psycopg 3, an optional
dependency: ``pip install 'detector-app[postgres]'``.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from detector_app.errors import StorageError

DRIVER = "postgresql+psycopg"
CONNECT_TIMEOUT_S = 10
READ_ONLY_OPTION = "detector_app_read_only"  # engine execution option: the project was opened read-only
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_database_url(location: object) -> bool:
    """True for ``scheme://...`` text: a database URL rather than a project folder."""
    return isinstance(location, str) and bool(_SCHEME.match(location))


def parse_url(location: str) -> URL:
    """The SQLAlchemy URL of a team project; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        url = make_url(location)
    except ArgumentError:
        raise StorageError(f"{_scheme_only(location)} is not a valid database URL; expected "
                           f"{DRIVER}://USER:PASSWORD@HOST[:PORT]/DATABASE") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise StorageError(f"{url.drivername}:// projects are not supported: a project is a folder (SQLite) or a "
                           f"PostgreSQL URL, {DRIVER}://USER:PASSWORD@HOST[:PORT]/DATABASE")
    if not url.database:
        raise StorageError(f"the database URL {display_url(url)} names no database (…/DATABASE at its end)")
    return url.set(drivername=DRIVER)


def display_url(url: URL | str) -> str:
    """The URL as it may be printed or logged: the password is never shown."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return _scheme_only(url)
    return url.render_as_string(hide_password=True)


def without_password(location: str) -> str:
    """The URL as it may be remembered (settings): its password left out, not masked."""
    return parse_url(location).set(password=None).render_as_string(hide_password=False)


def with_password(location: str, password: str) -> str:
    """The URL with ``password`` in it (typed into a dialog instead of written into the URL)."""
    return parse_url(location).set(password=password).render_as_string(hide_password=False)


def create_postgres_engine(url: URL, *, read_only: bool = False) -> Engine:
    """An engine for a team project; ``read_only`` makes the server refuse every write of its sessions too."""
    connect_args: dict[str, object] = {"connect_timeout": CONNECT_TIMEOUT_S}
    if read_only:
        connect_args["options"] = "-c default_transaction_read_only=on"
    try:
        return create_engine(url, connect_args=connect_args, pool_pre_ping=True,
                             execution_options={READ_ONLY_OPTION: read_only})
    except (ImportError, NoSuchModuleError):
        raise StorageError("PostgreSQL projects need the psycopg driver: pip install 'detector-app[postgres]'") \
            from None


def connection_problem(url: URL, exc: BaseException) -> StorageError:
    """One line for a server that cannot be reached, a refused login or a missing database."""
    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split())
    reason = re.sub(r"^(connection failed: |connection is bad: )", "", reason)
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return StorageError(f"cannot open the team project {display_url(url)}: {reason}")


def _scheme_only(location: str) -> str:
    """Enough of a malformed URL to recognise it, never its credentials."""
    match = _SCHEME.match(location)
    return f"{match.group(0)}…" if match else "the location"
