"""Rows for PostgreSQL's ``COPY ... FROM STDIN`` (text format), built a column at a time.

psycopg's ``Copy.write_row`` formats every value of every row through its dumpers: about 10 µs for a row
of an imported box (13 columns), so 10 s of a 1,000,000-box import, more than the server spends storing
them. Here a column of plain values (int, finite float, str, None) becomes text in one pass, the values
every row shares are dumped once by psycopg, and the rows are sent in blocks. A column holding anything else
(a bool, a date, a non-finite float) sends the whole insert through ``write_row`` instead.

The text format (PostgreSQL manual, COPY, "Text Format"): fields separated by tabs, rows by newlines, NULL as
``\\N``, and a backslash, tab, newline or carriage return inside a value written as ``\\\\``, ``\\t``,
``\\n``, ``\\r``. Floats are written as Python's ``repr``, the shortest text that reads back as the same double.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_BLOCK = 20_000  # rows a write: large enough to cost nothing per call, small enough to stream


def write_columns(copy: psycopg.Copy, connection: psycopg.Connection, varying: Mapping[str, Sequence[Any]],
                  shared: Mapping[str, Any]) -> None:
    """Send rows whose columns are ``varying`` (lists of one length) followed by ``shared`` (one value for every
    row), in that order: the COPY's column list must name them so."""
    count = len(next(iter(varying.values()), ()))
    if any(len(values) != count for values in varying.values()):
        raise ValueError("columns of different lengths")  # checked here: islice below would cut them silently
    texts = [_column_text(values) for values in varying.values()]
    if not texts or any(text is None for text in texts):
        _write_rows(copy, varying, shared, count)
        return
    encoding = _encoding(connection)
    tail = "".join("\t" + _dumped(connection, value, encoding) for value in shared.values()) + "\n"
    rows = zip(*texts, strict=True)
    for start in range(0, count, _BLOCK):
        block = itertools.islice(rows, min(_BLOCK, count - start))
        copy.write("".join("\t".join(fields) + tail for fields in block).encode(encoding))


def _encoding(connection: psycopg.Connection) -> str:
    """The encoding psycopg sends text in: the connection's, but UTF-8 for a SQL_ASCII database."""
    encoding = connection.info.encoding
    return "utf-8" if encoding == "ascii" else encoding


def _write_rows(copy: psycopg.Copy, varying: Mapping[str, Sequence[Any]], shared: Mapping[str, Any],
                count: int) -> None:
    """psycopg's own formatting, row by row: for any value type it can send."""
    columns = [*varying.values(), *(itertools.repeat(value, count) for value in shared.values())]
    for row in zip(*columns, strict=True):
        copy.write_row(row)


def _column_text(values: Sequence[Any]) -> list[str] | None:
    """Each value's field text, or None when a value is not a plain int, finite float, str or None."""
    kinds = set(map(type, values))
    if kinds <= {int}:
        return list(map(str, values))
    if kinds <= {float}:
        return list(map(float.__repr__, values)) if all(map(math.isfinite, values)) else None
    if kinds <= {str}:
        return [value.translate(_ESCAPES) for value in values]
    if not kinds <= {int, float, str, type(None)}:
        return None
    if float in kinds and not all(math.isfinite(v) for v in values if type(v) is float):
        return None
    return [NULL if v is None else v.translate(_ESCAPES) if type(v) is str else repr(v) for v in values]


def _dumped(connection: psycopg.Connection, value: Any, encoding: str) -> str:
    """``value`` as psycopg would send it in a COPY field (in ``encoding``), escaped."""
    if value is None:
        return NULL
    from psycopg.adapt import PyFormat, Transformer

    dumped = Transformer(connection).get_dumper(value, PyFormat.TEXT).dump(value)
    return bytes(dumped).decode(encoding).translate(_ESCAPES)
