"""A bulk load into a new project builds its secondary indexes and checks its foreign keys once, at the end.

Row by row, every box updates two secondary indexes and (PostgreSQL) runs one query per foreign key: on
PostgreSQL the key checks were 11 of the 18 µs the server spent on each box of a 1,000,000-box import
(measured with COPY), and on SQLite the indexes about a sixth of its insert time. PostgreSQL's manual
("Populating a Database") advises to drop indexes and foreign keys, load, and create them again: building an
index sorts once, and adding a foreign key checks every row with one join. This does that inside the import's
own transaction, so a failed import rolls the drops back too: the indexes and keys exist again, unchanged
(their own definitions, read back from the database), whatever happens. Unique indexes stay: they are rules.

On SQLite the drop locks nothing more than the write transaction already does (readers keep their snapshot).
On PostgreSQL it locks the table and the tables its keys reference against every other session until the
transaction ends (other annotators' reads wait). So an import does it only when nobody can be working in the
project yet (no images), and on PostgreSQL it gives up at once (row by row, as before) when its role does
not own the tables or another session holds a lock on them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator

from sqlalchemy import Table, TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

LOCK_WAIT = "2s"  # PostgreSQL: at most this long for other sessions' locks on the tables, then row by row

_PG_FOREIGN_KEYS = text("""
    SELECT c.conname, pg_get_constraintdef(c.oid),
           ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey))
    FROM pg_constraint c
    WHERE c.conrelid = CAST(:table AS regclass) AND c.contype = 'f'
    ORDER BY c.conname""")
_PG_INDEXES = text("""
    SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisunique
    ORDER BY c.relname""")
_SQLITE_INDEXES = text("""
    SELECT name, sql FROM sqlite_master
    WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL AND upper(sql) NOT LIKE 'CREATE UNIQUE%'
    ORDER BY name""")


@contextlib.contextmanager
def built_at_end(session: Session, table: Table, key_columns: Collection[str]) -> Iterator[bool]:
    """Within the block, rows go into ``table`` without updating its non-unique indexes and (PostgreSQL)
    without checking its foreign keys on ``key_columns``; when the block ends without an error the indexes are
    built and the keys checked over all rows at once (an error leaves them to the caller's rollback). Yields
    whether anything was dropped: False when PostgreSQL's locks or privileges were not to be had."""
    restore = _drop(session, table, key_columns)
    yield bool(restore)
    for statement in restore:  # one sort per index, one join per key: seconds, not a minute
        session.execute(_literal(statement))


def _drop(session: Session, table: Table, key_columns: Collection[str]) -> list[str]:
    """Drop the indexes (and PostgreSQL keys); return the statements that create them again."""
    quote = session.get_bind().dialect.identifier_preparer.quote
    if session.get_bind().dialect.name == "sqlite":
        indexes = list(session.execute(_SQLITE_INDEXES, {"table": table.name}))
        for name, _ in indexes:
            session.execute(_literal(f"DROP INDEX {quote(name)}"))
        return [definition for _, definition in indexes]
    keys = [(name, definition) for name, definition, columns in session.execute(_PG_FOREIGN_KEYS, {"table": table.name})
            if set(columns) <= set(key_columns)]
    indexes = list(session.execute(_PG_INDEXES, {"table": table.name}))
    if not keys and not indexes:
        return []
    drops = [f"ALTER TABLE {quote(table.name)} " + ", ".join(f"DROP CONSTRAINT {quote(name)}" for name, _ in keys)
             ] if keys else []
    drops += [f"DROP INDEX {quote(name)}" for name, _ in indexes]
    previous = session.scalar(text("SELECT current_setting('lock_timeout')"))
    try:
        with session.begin_nested():  # a refusal leaves the transaction usable
            session.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": LOCK_WAIT})
            for statement in drops:
                session.execute(_literal(statement))
    except DBAPIError as exc:  # not the owner, or another session holds a lock: row by row
        log.info("%s keeps its indexes and per-row key checks: %s", table.name, " ".join(str(exc.orig).split()))
        return []
    finally:
        session.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": previous})
    return [definition for _, definition in indexes] + [
        f"ALTER TABLE {quote(table.name)} ADD CONSTRAINT {quote(name)} {definition}" for name, definition in keys]


def _literal(statement: str) -> TextClause:
    """DDL as the database wrote it: a ``:name`` inside it (a partial index's string literal) is text, not a
    bind parameter; casts (``::text``) render unchanged."""
    return text(statement.replace(":", "\\:"))
