"""The one rule for text a user or a file gives as a name (class names above all), and safe printing.

A name must not hold characters that change what a terminal or a text widget shows instead of being shown:
C0/C1 control characters (NUL, ESC, newline, DEL ...), lone surrogates (they cannot even be stored as UTF-8),
line/paragraph separators and the bidirectional formatting characters (they reorder text, "Trojan source").
Zero-width joiners and other format characters used by real scripts and emoji stay allowed.

``check_name`` enforces the rule where names come in (importers, the GUI's class picker);
``printable`` escapes the same characters where text goes out (every name the CLI prints).
No Qt and no database here: this module is imported by the UI, the importers and the CLI alike.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from detector_app.errors import DetectorAppError

MAX_NAME_LENGTH = 200  # characters; a class name is a label, not a paragraph

# Format characters (category Cf) that reorder or hide text: the bidi embeddings, overrides and isolates,
# the marks, and the byte-order mark / zero-width no-break space.
_BIDI_AND_HIDDEN = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})  # controls, surrogates, line/paragraph separators


class InvalidNameError(DetectorAppError, ValueError):
    """A name is empty, too long or holds a character that is not allowed in a name."""


def is_unsafe_char(char: str) -> bool:
    """True for a character no name may hold (and that ``printable`` escapes)."""
    return char in _BIDI_AND_HIDDEN or unicodedata.category(char) in _REFUSED_CATEGORIES


def name_problem(name: object, what: str = "a class name") -> str | None:
    """Why ``name`` cannot be used (one short phrase), or None when it can. Leading/trailing spaces are ignored."""
    if not isinstance(name, str):
        return f"{what} must be text, not {type(name).__name__}"
    stripped = name.strip()
    if not stripped:
        return f"{what} must not be empty"
    bad = next((c for c in stripped if is_unsafe_char(c)), None)
    if bad is not None:
        return f"{what} must not contain the control character {_escape(bad)} ({printable(_clip(stripped))})"
    if len(stripped) > MAX_NAME_LENGTH:
        return f"{what} must be at most {MAX_NAME_LENGTH} characters, not {len(stripped)}"
    return None


def check_name(name: object, what: str = "a class name") -> str:
    """``name`` without surrounding spaces; raises ``InvalidNameError`` when it breaks the rule above."""
    problem = name_problem(name, what)
    if problem is not None:
        raise InvalidNameError(problem)
    assert isinstance(name, str)
    return name.strip()


def printable(text: object, *, multiline: bool = False) -> str:
    """``str(text)`` with every unsafe character written as an escape (``\\x1b``, ``\\u202e``, ``\\ud800``),
    so printing it can neither drive the terminal nor break a one-line message. ``multiline`` keeps ``\\n``."""
    text = str(text)
    if not any(is_unsafe_char(c) for c in text):
        return text
    return "".join(c if (multiline and c == "\n") or not is_unsafe_char(c) else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def clip(text: str, limit: int = 40) -> str:
    """``text`` quoted, with every unsafe character escaped, cut to about ``limit`` characters."""
    return f"'{printable(text[:limit])}" + ("…'" if len(text) > limit else "'")


def describe(value: object) -> str:
    """What ``value`` is, short and printable (escaped, clipped): safe to put in a one-line message."""
    if value is None:
        return "empty (None)"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int):
        return f"the number {value}" if value.bit_length() < 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {clip(value)}"
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    if hasattr(value, "shape"):  # a tensor or an array, without importing either library
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, Mapping):
        return f"a dict of {len(value)} entries"
    if isinstance(value, list | tuple | set | frozenset):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def class_list_problem(value: object) -> str | None:
    """Why ``value`` is not a list of class names (one string is never split into characters), or None.
    Callers add their own limits (how many, where the background class may stand)."""
    if isinstance(value, str | bytes):
        return f"class_names is a single text ({describe(value)}), not a list of class names"
    if not isinstance(value, list | tuple):
        return f"class_names must be a list of class names, not {describe(value)}"
    for i, name in enumerate(value):
        if not isinstance(name, str):
            return f"class name {i + 1} is {describe(name)}, not text"
        if (problem := name_problem(name, f"class name {i + 1}")) is not None:
            return problem
    return None

