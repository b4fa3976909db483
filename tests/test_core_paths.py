"""Confinement of many names under one folder (``core.paths.Confinement``) agrees with resolving each path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detector_app.core.paths import Confinement, UnsafePathError, confine


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
