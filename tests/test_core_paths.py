"""Confinement of many names under one folder (``core.paths.Confinement``) agrees with resolving each path, and
its string-only checks of a name agree with pathlib's reading of it."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detector_app.core.paths import (
    MAX_COMPONENT_BYTES,
    MAX_PATH_BYTES,
    Confinement,
    UnsafePathError,
    check_relative,
    confine,
    relative_parts,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (tmp_path / "outside").mkdir()
    (root / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "outside" / "secret.png").write_bytes(b"s")
    os.symlink(root / "a", root / "inner")  # a folder link that stays inside
    os.symlink(root / "a" / "x.png", root / "b" / "same.png")  # a file link that stays inside
    os.symlink(tmp_path / "outside" / "secret.png", root / "a" / "out.png")  # a file link out
    os.symlink(tmp_path / "outside", root / "b" / "away")  # a folder link out
    return root


INSIDE = ["a/x.png", "inner/x.png", "b/same.png", "a/missing.png", "new/folder/file.png", "a\\x.png"]
OUTSIDE = ["a/out.png", "inner/out.png", "b/away/secret.png", "b/away/missing.png"]


@pytest.mark.parametrize("name", INSIDE)
def test_names_inside_are_kept_as_written(tree: Path, name: str) -> None:
    expected = tree / name.replace("\\", "/")
    assert confine(tree, name) == expected
    assert Confinement(tree)(name) == expected


def test_one_confinement_answers_like_fresh_ones_for_every_name(tree: Path) -> None:
    """The folder cache must not carry a verdict from one name to another in the same folder."""
    shared = Confinement(tree)
    for name in INSIDE + OUTSIDE + INSIDE:
        try:
            fresh: object = confine(tree, name)
        except UnsafePathError as exc:
            fresh = type(exc)
        try:
            cached: object = shared(name)
        except UnsafePathError as exc:
            cached = type(exc)
        assert cached == fresh, name
        assert (fresh is UnsafePathError) == (name in OUTSIDE), name


@pytest.mark.parametrize("name", ["../images/a/x.png", "/etc/passwd", "a/\x00.png", "C:/x.png", ""])
def test_text_checks_come_first(tree: Path, name: str) -> None:
    with pytest.raises(UnsafePathError):
        Confinement(tree)(name)


def _pathlib_parts(name: str) -> tuple[str, ...] | str:
    """The rule as pathlib reads a name (the implementation before ``relative_parts`` went to strings)."""
    text = name.replace("\\", "/")
    pure = PurePosixPath(text)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", text):
        return "absolute"
    if ".." in pure.parts:
        return "uses .."
    if not pure.parts:
        return "no file"
    if any(len(os.fsencode(p)) > MAX_COMPONENT_BYTES for p in pure.parts):
        return "part too long"
    if len(os.fsencode(text)) > MAX_PATH_BYTES:
        return "too long"
    return pure.parts


_NAME_PIECES = st.sampled_from(["a", "b.png", ".", "..", "...", "", "/", "//", "\\", "./", "C:", "x" * 200, "é" * 70,
                                " ", "a b", ".hidden", "z" * 256, "w" * 250 + "/"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_NAME_PIECES, min_size=1, max_size=20).map("".join))
def test_string_parts_agree_with_pathlib(name: str) -> None:
    """``relative_parts`` splits and refuses every name exactly as pathlib did, in the same order of checks."""
    assume(name.strip())
    try:
        got: tuple[str, ...] | str = relative_parts(name)
    except UnsafePathError as exc:
        message = str(exc)
        got = next(kind for kind, words in (("absolute", "absolute path"), ("uses ..", "uses '..'"),
                                            ("no file", "does not name a file"),
                                            ("part too long", "has a name longer"), ("too long", "is longer than"))
                   if words in message)
    assert got == _pathlib_parts(name)
    if isinstance(got, tuple):
        assert check_relative(name) == PurePosixPath(name.replace("\\", "/"))
