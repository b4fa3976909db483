"""Engine set-up (SQLite) and schema migrations (SQLite and PostgreSQL, see storage/postgres.py).

Every connection gets WAL mode (readers never block the writer), foreign keys, a 10 s busy timeout and
``synchronous=FULL`` (a committed edit survives a crash or power loss). pysqlite's own transaction
handling is switched off so that write transactions start with ``BEGIN IMMEDIATE``: the write lock is
taken up front and waited for with the busy timeout, instead of failing with "database is locked" when a
read transaction later tries to upgrade to a write.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Engine, Float, Table, create_engine, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from detector_app.errors import StorageError
from detector_app.storage.postgres import READ_ONLY_OPTION

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# The newest revision in migrations/versions (tests/test_storage_migrations.py checks that it is). Opening a
# project at this revision needs no alembic at all, which keeps commands such as `stats` quick to start.
SCHEMA_HEAD = "0007"

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 10.0
BEGIN_OPTION = "detector_app_begin"  # execution option: "IMMEDIATE" for write transactions


def create_sqlite_engine(db_path: Path, *, read_only: bool = False, immutable: bool = False) -> Engine:
    """An engine for ``db_path``. ``read_only`` opens it with SQLite's ``mode=ro`` (nothing is ever written,
    not even the journal mode); ``immutable`` additionally tells SQLite that no one changes the file, so it
    needs no -wal/-shm files (for a folder where they cannot be created)."""
    if read_only:
        query = "mode=ro&immutable=1" if immutable else "mode=ro"
        url = f"sqlite:///file:{quote(str(db_path))}?{query}&uri=true"
    else:
        url = f"sqlite:///{db_path}"
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_pre_ping=False,
    )
    event.listen(engine, "connect", _on_connect_read_only if read_only else _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def is_read_only(engine: Engine) -> bool:
    """True for an engine made with ``create_sqlite_engine(..., read_only=True)`` or its PostgreSQL twin."""
    return engine.url.query.get("mode") == "ro" or bool(engine.get_execution_options().get(READ_ONLY_OPTION))


def _on_connect_read_only(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def write_engine(engine: Engine) -> Engine:
    """The same pool, but transactions take the write lock at BEGIN."""
    return engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys): :func:`insert_columns` of their columns."""
    if rows:
        insert_columns(session, table, {name: [row[name] for row in rows] for name in rows[0]})


def insert_columns(session: Session, table: Table, columns: Mapping[str, Sequence[Any]],
                   same: Mapping[str, Any] | None = None) -> None:
    """INSERT rows given column by column (lists of one length), with one DBAPI ``executemany`` (SQLite) or one
    COPY (PostgreSQL); ``same`` holds values every row shares. Columns left out take their defaults.

    SQLAlchemy's own bulk insert spends ~10x longer per row than SQLite; bulk imports and prediction batches
    use this instead. Values still go through each column type's bind processing (a shared value once, the
    others once per distinct value, as timestamps repeat). Building 1,000,000 rows as columns rather than
    dicts saves about two seconds of an import.
    """
    count = len(next(iter(columns.values()), ()))
    if not count:
        return
    dialect = session.get_bind().dialect
    varying: dict[str, Sequence[Any]] = {}
    shared: dict[str, Any] = {}
    for name in [*columns, *(same or {})]:
        column_type = table.c[name].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if name in columns:
            column = columns[name]
            # SQLite's Float processor turns Decimals into floats: a column of plain floats needs none.
            if processor is not None and not (isinstance(column_type, Float)
                                              and all(v is None or type(v) is float for v in column)):
                column = _converted(column, processor)
            varying[name] = column
        else:
            value = (same or {})[name]
            shared[name] = processor(value) if processor is not None else value

    quote = dialect.identifier_preparer.quote
    listed = ", ".join(quote(c) for c in [*varying, *shared])
    if dialect.name == "postgresql":
        import psycopg  # this engine's driver, so installed; imported here as it is an optional dependency

        from detector_app.storage.copy_text import write_columns

        # COPY, in the session's transaction: 3x faster than psycopg's executemany (measured, 100k rows). The
        # driver's own errors do not pass through SQLAlchemy, so they are worded here as the session's are.
        driver = session.connection().connection.driver_connection
        try:
            with driver.cursor() as cursor, cursor.copy(f"COPY {quote(table.name)} ({listed}) FROM STDIN") as copy:
                write_columns(copy, driver, varying, shared)
        except (psycopg.Error, UnicodeError) as exc:  # a value the server refuses, e.g. a COCO id beyond its
            # integer, or text the database's encoding cannot hold
            raise StorageError("could not write the project database: " + "; ".join(str(exc).splitlines())) from exc
        return
    rows = zip(*varying.values(), *(itertools.repeat(value, count) for value in shared.values()), strict=True)
    sql = f"INSERT INTO {quote(table.name)} ({listed}) VALUES ({', '.join(['?'] * (len(varying) + len(shared)))})"
    session.connection().exec_driver_sql(sql, list(rows))


def _converted(values: Sequence[Any], processor: Callable[[Any], Any]) -> list[Any]:
    """``processor`` applied to each value, once per distinct value (timestamps of one import repeat)."""
    memo: dict[Any, Any] = {}
    out = []
    for value in values:
        try:
            converted = memo[value]
        except KeyError:
            converted = memo[value] = processor(value)
        except TypeError:  # unhashable (JSON) values are not memoised
            converted = processor(value)
        out.append(converted)
    return out


# --- migrations -------------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configured in code: no alembic.ini is needed at run time."""
    from alembic.config import Config  # alembic (~0.25 s to import) only when a schema has to change

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # see alembic_config

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise StorageError(f"no schema migrations found in {MIGRATIONS_DIR}; the installation is incomplete")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database (alembic's ``alembic_version`` table), read with plain SQL."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        heads = tuple(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(heads) > 1:
        raise StorageError(f"the project database has several schema revisions ({', '.join(heads)}); it is damaged")
    return heads[0] if heads else None


# Held while migrating a PostgreSQL database, so that two clients opening a new team project at once do not
# both create its tables: the second waits, then finds the schema at the head and does nothing.
_MIGRATION_LOCK_KEY = 0x6465746563746F72  # "detector"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run migrations up to ``revision`` in one transaction (SQLite and PostgreSQL DDL are transactional)."""
    from alembic import command  # see alembic_config

    with write_engine(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def check_schema_read_only(engine: Engine, db_path: Path | str) -> None:
    """A read-only database must already be at the head revision: it cannot be migrated.

    ``db_path``: the SQLite file, or the URL (password hidden) of a PostgreSQL database.
    """
    current = current_revision(engine)
    if current == SCHEMA_HEAD:
        return
    head = head_revision()
    if current is not None and not _known(_scripts(), current):
        raise StorageError(
            f"{db_path} was written by a newer version of detector-app (schema revision {current}, this version "
            f"knows up to {head}); update detector-app to open it"
        )
    if current is None:
        raise StorageError(f"{db_path} is {_kind(db_path)} but not a detector-app project")
    where = "the project folder is writable" if isinstance(db_path, Path) else "you may change the database"
    raise StorageError(f"{db_path} has the older schema {current} and must be migrated to {head}, which needs "
                       f"write access; open it once where {where}")


def migrate_to_head(engine: Engine, db_path: Path | str) -> Path | None:
    """Bring the database to the head revision; returns the backup made first, if any.

    A revision this version does not know means a newer app wrote the file: refuse rather than guess.
    ``db_path``: the SQLite file (backed up before a migration), or the URL (password hidden) of a PostgreSQL
    database, which is not copied (its migration is one transaction; backups are the server's business).
    """
    current = current_revision(engine)
    if current == SCHEMA_HEAD:
        return None
    from alembic.util.exc import CommandError  # see alembic_config

    script = _scripts()
    head = head_revision()
    if current is not None and not _known(script, current):
        raise StorageError(
            f"{db_path} was written by a newer version of detector-app (schema revision {current}, this version "
            f"knows up to {head}); update detector-app to open it"
        )
    if current is None and _has_tables(engine):
        raise StorageError(f"{db_path} is {_kind(db_path)} but not a detector-app project")
    backup = backup_database(db_path, current) if current is not None and isinstance(db_path, Path) else None
    try:
        upgrade(engine, head)
    except (SQLAlchemyError, CommandError) as exc:
        hint = f"; the untouched copy is {backup}" if backup else ""
        raise StorageError(f"could not migrate {db_path} from schema {current} to {head}: {exc}{hint}") from exc
    if current is not None:
        log.info("migrated %s from schema %s to %s (backup %s)", db_path, current, head, backup)
    return backup


def _kind(db_path: Path | str) -> str:
    return "an SQLite database" if isinstance(db_path, Path) else "a database with other tables"


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.util.exc import CommandError  # see alembic_config

    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(inspect(conn).get_table_names())


def backup_database(db_path: Path, revision: str) -> Path:
    """A consistent copy through SQLite's backup API (a file copy could miss pages still in the WAL)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = db_path.with_name(f"{db_path.name}.bak-{revision}-{stamp}")
    src = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target
