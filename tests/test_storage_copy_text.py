"""PostgreSQL bulk inserts format COPY text a column at a time (storage/copy_text.py): what they store must be
exactly what psycopg's own row-by-row formatting stores, for every awkward value the text format has to escape,
and any value type outside the fast path must still go through psycopg."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detector_app.errors import StorageError
from detector_app.storage import Project, copy_text
from detector_app.storage.db import insert_columns
from detector_app.storage.models import Image, utcnow

from .pg_server import PostgresServer

pytestmark = pytest.mark.postgres
psycopg = pytest.importorskip("psycopg")

COLUMNS = "n bigint, x double precision, label text, at timestamptz, flag boolean, note text"
STRINGS = ["plain", "", "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "ünïcödé 漢字",
           "trailing\\", "\\t literal", " spaced "]


@pytest.fixture
def connection(postgres_server: PostgresServer) -> Iterator[Any]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE fast ({COLUMNS})")
        conn.execute(f"CREATE TABLE slow ({COLUMNS})")
        yield conn
    postgres_server.drop_database(name)


def stored(conn: Any, table: str) -> list[tuple]:
    return conn.execute(f"SELECT n, x, label, at, flag, note FROM {table} ORDER BY ctid").fetchall()


def copy_both(conn: Any, varying: dict[str, list], shared: dict[str, Any]) -> None:
    """The same rows through the column-wise path and through psycopg's write_row."""
    listed = ", ".join([*varying, *shared])
    with conn.cursor() as cursor, cursor.copy(f"COPY fast ({listed}) FROM STDIN") as copy:
        copy_text.write_columns(copy, conn, varying, shared)
    with conn.cursor() as cursor, cursor.copy(f"COPY slow ({listed}) FROM STDIN") as copy:
        copy_text._write_rows(copy, varying, shared, len(next(iter(varying.values()))))


def test_awkward_values_are_stored_as_psycopg_stores_them(connection: Any) -> None:
    n = len(STRINGS)
    varying = {"n": [0, -1, 2**63 - 1, -(2**63), 7, 8, 9, 10, 11, 12, 13],
               "x": [0.1, -0.0, 1e-320, 1.7976931348623157e308, 2 / 3, 1e16, -5e-324, 123.0, 0.5, 1e-7, 3.0],
               "label": STRINGS,
               "note": [None if i % 3 == 0 else s for i, s in enumerate(reversed(STRINGS))]}
    assert all(len(v) == n for v in varying.values())
    shared = {"at": datetime(2026, 12, 3, 8, 30, 1, 123456, tzinfo=UTC), "flag": True}
    assert copy_text._column_text(varying["note"]) is not None  # every column takes the column-wise path
    copy_both(connection, varying, shared)
    fast = stored(connection, "fast")
    assert fast == stored(connection, "slow")
    assert [row[2] for row in fast] == STRINGS and [row[1] for row in fast] == varying["x"]
    assert [row[0] for row in fast] == varying["n"] and {row[3:5] for row in fast} == {(shared["at"], True)}


def test_many_rows_in_several_blocks(connection: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copy_text, "_BLOCK", 7)
    varying = {"n": list(range(50)), "label": [f"row {i}\t{i}" for i in range(50)]}
    copy_both(connection, varying, {"note": "shared\\note", "x": None})
    assert stored(connection, "fast") == stored(connection, "slow")
    assert len(stored(connection, "fast")) == 50


@pytest.mark.parametrize("column, values", [
    ("x", [1.0, float("inf"), float("nan")]),  # psycopg writes these as Infinity / NaN
    ("flag", [True, False, None]),  # a bool is not an int here
    ("at", [datetime(2026, 1, 1, tzinfo=UTC), None, datetime(2020, 2, 29, tzinfo=UTC)]),
])
def test_other_value_types_go_through_psycopg(connection: Any, column: str, values: list) -> None:
    assert copy_text._column_text(values) is None
    copy_both(connection, {"n": [1, 2, 3], column: values}, {"label": "same"})
    fast, slow = stored(connection, "fast"), stored(connection, "slow")
    assert repr(fast) == repr(slow)  # repr: NaN != NaN
    assert len(fast) == 3


def test_columns_of_different_lengths_are_refused(connection: Any) -> None:
    with pytest.raises(ValueError, match="different lengths"), connection.cursor() as cursor, cursor.copy(
            "COPY fast (n, label) FROM STDIN") as copy:
        copy_text.write_columns(copy, connection, {"n": [1, 2, 3], "label": ["a", "b"]}, {})


def test_a_sql_ascii_database_gets_text_as_psycopg_sends_it(postgres_server: PostgresServer) -> None:
    """SQL_ASCII (initdb's default under the C locale): psycopg sends UTF-8, and so must the column-wise path."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with postgres_server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" ENCODING \'SQL_ASCII\' LC_COLLATE \'C\' LC_CTYPE \'C\' '
                      "TEMPLATE template0")
    url = postgres_server.url(name).replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(url) as conn:
            assert conn.info.encoding == "ascii"
            conn.execute(f"CREATE TABLE fast ({COLUMNS})")
            conn.execute(f"CREATE TABLE slow ({COLUMNS})")
            copy_both(conn, {"label": STRINGS}, {"note": "annotator Zoë 漢"})
            assert stored(conn, "fast") == stored(conn, "slow")
            assert [row[2].decode() for row in stored(conn, "fast")] == STRINGS  # SQL_ASCII text comes back as bytes
    finally:
        postgres_server.drop_database(name)


def test_a_value_the_server_refuses_is_one_storage_error_line(postgres_server: PostgresServer,
                                                              tmp_path: Path) -> None:
    """COPY's refusal (here an id beyond BIGINT, which only a caller past the file checks could send) reaches
    the user as one StorageError line, and the transaction writes nothing."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    try:
        with Project.open(url, media_root=tmp_path) as project:
            with pytest.raises(StorageError, match="out of range") as refused, project.repo.transaction() as s:
                insert_columns(s, Image.__table__, {"path": ["a.png", "b.png"], "width": [4, 4], "height": [3, 3],
                                                    "coco_id": [1, 2**63]},
                               same={"origin": "file", "created_at": utcnow()})
            assert "\n" not in str(refused.value)
            assert project.repo.count_images() == 0
    finally:
        postgres_server.drop_database(name)
