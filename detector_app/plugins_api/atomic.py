"""All-or-nothing output: write into a staging folder, move into place only when the writer succeeded."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

STAGING_MARK = ".partial-"


def write_atomically(out_dir: Path, write: Callable[[Path], Path]) -> Path:
    """Call ``write(staging)`` and move what it wrote into ``out_dir``; return its result inside ``out_dir``.

    The staging folder sits beside ``out_dir`` (same file system, so moves are renames). If ``write``
    raises, the staging folder is removed and ``out_dir`` is left exactly as it was. Files already in
    ``out_dir`` with the same names are replaced one by one, each replacement atomic.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}{STAGING_MARK}", dir=out_dir.parent))
    try:
        result = Path(write(staging))
        inside = _relative_to(result if result.is_absolute() else staging / result, staging)
        _move_into(staging, out_dir)
        return out_dir / inside
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _relative_to(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        raise ValueError(f"the exporter returned {path}, which is outside the folder it was given") from None


def _move_into(src: Path, dst: Path) -> None:
    if not dst.exists():
        os.replace(src, dst)  # the common case: one rename publishes everything at once
        src.mkdir()  # so the caller's cleanup finds the folder it made
        return
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and target.is_dir():
            _move_into(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
