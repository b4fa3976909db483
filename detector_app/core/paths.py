"""Confinement of paths named by a file being imported: the one place that decides whether a relative path
from a label file may be opened.

``confine(root, relative)`` checks the text first (no file system access at all): no absolute path, no drive,
no ``..``, no NUL or other control character, no component longer than the file system allows. Only then does
it resolve symlinks (``lstat``/``readlink`` of the components, nothing is opened) and refuse a path that leads
out of ``root``. Every importer (COCO, YOLO, VOC) and the image index of the format plugins use it, so a label
file can never make the app open a file outside the image folder the user chose.
No Qt and no database here.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from detector_app.core.names import is_unsafe_char, printable
from detector_app.errors import DetectorAppError

MAX_COMPONENT_BYTES = 255  # NAME_MAX of ext4, APFS, NTFS (in UTF-16 units there, close enough)
MAX_PATH_BYTES = 4000  # below PATH_MAX (4096) so that root + relative still fits
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafePathError(DetectorAppError, ValueError):
    """A path from an imported file points outside its folder or cannot name a file there."""


def confine(root: str | os.PathLike[str], relative: object) -> Path:
    """``root / relative`` when that is a path inside ``root``; raises ``UnsafePathError`` otherwise.

    ``relative`` uses ``/`` (a ``\\`` counts as ``/``, as Windows-made datasets write it). The returned path
    is not resolved (what the project stores stays as the file names it), but its resolved form lies inside
    the resolved ``root``: a symlink leading out of ``root`` is refused. The file need not exist.
    """
    return Confinement(root)(relative)


class Confinement:
    """:func:`confine` for many names under one ``root``: the root and each folder are resolved once per
    instance (an import of 100,000 files spent a quarter of its time resolving the same few folders again).
    Use one instance for one pass over a folder; it does not notice folders that change meanwhile."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._real_root: str | None = None
        self._real_folders: dict[str, str] = {}

    def __call__(self, relative: object) -> Path:
        return self.place(check_relative(relative), relative)

    def place(self, pure: PurePosixPath, relative: object = None) -> Path:
        """:meth:`__call__` for a name ``check_relative`` already passed (``pure``: what it returned;
        ``relative``: the name as written, for messages)."""
        self.real_path(pure.parts, pure.as_posix() if relative is None else relative)
        return self.root / pure

    def real_path(self, parts: Sequence[str], relative: object) -> str:
        """The resolved path (text) of a name ``relative_parts`` returned ``parts`` for; raises
        ``UnsafePathError`` when it leads out of the root. Strings only: an import checks 100,000 names."""
        folder = "/".join(parts[:-1])
        try:
            real_root = self._real_root or os.path.realpath(self.root)
            self._real_root = real_root
            real_folder = self._real_folders.get(folder)
            if real_folder is None:
                real_folder = self._real_folders[folder] = os.path.realpath(os.path.join(self.root, folder))
            real = os.path.join(real_folder, parts[-1])
            if _is_symlink(real):  # the last component may itself lead elsewhere
                real = os.path.realpath(real)
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, permission, ...
            raise UnsafePathError(f"{_show(relative)} cannot be resolved: {_reason(exc)}") from None
        if real != real_root and not real.startswith(os.path.join(real_root, "")):
            raise UnsafePathError(f"{_show(relative)} leads outside {printable(self.root)} (through a symlink)")
        return real


def _is_symlink(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):  # nothing to follow, as realpath() sees it
        return False


def check_relative(relative: object) -> PurePosixPath:
    """The text checks of :func:`confine`, without touching the file system."""
    return PurePosixPath("/".join(relative_parts(relative)))


def relative_parts(relative: object) -> tuple[str, ...]:
    """:func:`check_relative` as the name's components (``a/./b//c`` gives ``a``, ``b``, ``c``, as pathlib
    splits it), with string operations only."""
    if not isinstance(relative, str):
        raise UnsafePathError(f"a file name must be text, not {type(relative).__name__}")
    if not relative.strip():
        raise UnsafePathError("a file name must not be empty")
    # Printable ASCII holds no unsafe character: the per-character test only for other text.
    bad = None if relative.isascii() and relative.isprintable() else next(
        (c for c in relative if is_unsafe_char(c)), None)
    if bad is not None:
        raise UnsafePathError(f"{_show(relative)} contains the control character {printable(bad)}")
    text = relative.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise UnsafePathError(f"{_show(relative)} must be a path inside the image folder, not an absolute path")
    parts = tuple(part for part in text.split("/") if part and part != ".")
    if ".." in parts:
        raise UnsafePathError(f"{_show(relative)} must be a path inside the image folder (it uses '..')")
    if not parts:
        raise UnsafePathError(f"{_show(relative)} does not name a file")
    if len(text) > MAX_COMPONENT_BYTES // 4:  # UTF-8 takes at most 4 bytes a character: shorter names fit
        for part in parts:
            if len(os.fsencode(part)) > MAX_COMPONENT_BYTES:
                raise UnsafePathError(f"{_show(relative)} has a name longer than {MAX_COMPONENT_BYTES} bytes")
        if len(os.fsencode(text)) > MAX_PATH_BYTES:
            raise UnsafePathError(f"{_show(relative)} is longer than {MAX_PATH_BYTES} bytes")
    return parts


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a regular file (following symlinks); False for a missing file, a folder, a FIFO,
    a device or anything ``stat`` cannot reach. Never opens it, never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


class NotARegularFileError(OSError):
    """A file that was to be read is a folder, a pipe, a device or larger than the limit."""


def read_regular_file(path: str | os.PathLike[str], max_bytes: int, hint: str = "") -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``max_bytes``; raises ``FileNotFoundError``,
    ``NotARegularFileError`` or another ``OSError``. A FIFO or a device (``/dev/zero``) is refused before it is
    opened and the open is non-blocking, so nothing here can hang or fill the memory."""
    path = Path(path)
    if not is_regular_file(path):
        if not path.exists():
            raise FileNotFoundError(2, "file not found", str(path))
        raise NotARegularFileError(0, "it is not a regular file (a folder, a pipe or a device)")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb", closefd=True) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):  # swapped for something else since the check
            raise NotARegularFileError(0, "it is not a regular file (a folder, a pipe or a device)")
        note = f" ({hint})" if hint else ""
        if info.st_size > max_bytes:
            raise NotARegularFileError(0, f"it is {info.st_size} bytes, more than the limit of {max_bytes} bytes{note}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotARegularFileError(0, f"it is more than the limit of {max_bytes} bytes{note}")
    return data


def _show(relative: object) -> str:
    text = printable(relative)
    return "'" + (text if len(text) <= 60 else text[:60] + "…") + "'"


def _reason(exc: BaseException) -> str:
    return printable(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
