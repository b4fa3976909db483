"""Reading label files safely, for codecs: finding each image a label file names, only inside its folder.

A codec lists label files with :func:`label_files`, reads each with :func:`read_label_text` (confined, regular
files only, size-capped), finds its image with :class:`ImageIndex` and reports every problem at once with
:func:`raise_problems`. No database and no Qt here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NoReturn
from xml.etree.ElementTree import Element

import defusedxml
import defusedxml.ElementTree as SafeET

from detector_app.core.images import check_image
from detector_app.core.labels import IMAGE_SUFFIXES, Box, LabelledImage
from detector_app.core.names import printable
from detector_app.core.paths import (
    UnsafePathError,
    check_relative,
    confine,
    is_regular_file,
    read_regular_file,
)
from detector_app.errors import ImportValidationError, LabelSetError


def raise_problems(source: Path, problems: Sequence[str]) -> NoReturn:
    """Raise one ``LabelSetError`` naming the first problems (nothing has been written)."""
    raise LabelSetError(str(source), list(problems))


def labelled_image(path: Path, root: Path, boxes: Sequence[Box]) -> LabelledImage:
    """An image found in ``root`` with its boxes; its size is read from the file's header (EXIF applied)."""
    checked = check_image(path)
    return LabelledImage(path.relative_to(root).as_posix(), checked.width, checked.height, tuple(boxes), path)


class ImageIndex:
    """Finds the image file for a label file by relative path or by file name, in one folder tree.

    The tree is listed once; ``find`` only ever returns a listed file, so a label file cannot make the import
    open anything else. Listed are regular image files inside the folder: symlinked folders are not entered,
    and a symlink (or a name) leading outside the folder is left out, as are names that cannot be stored.
    """

    def __init__(self, images_dir: Path) -> None:
        try:
            is_dir = images_dir.is_dir()
        except (OSError, ValueError):
            is_dir = False
        if not is_dir:
            raise ImportValidationError(f"image folder {printable(images_dir)} not found")
        self.root = images_dir
        try:
            self._files = sorted(p for p in images_dir.rglob("*") if self._usable(p))
        except OSError as exc:
            raise ImportValidationError(f"cannot list the image folder {printable(images_dir)}: "
                                        f"{printable(exc.strerror or exc)}") from exc
        self._by_relative: dict[str, Path] = {}
        self._by_name: dict[str, list[Path]] = {}
        self._by_stem: dict[str, list[Path]] = {}
        self._by_relative_stem: dict[str, list[Path]] = {}
        for path in self._files:
            relative = path.relative_to(images_dir)
            self._by_relative[relative.as_posix()] = path
            self._by_relative_stem.setdefault(relative.with_suffix("").as_posix(), []).append(path)
            self._by_name.setdefault(path.name, []).append(path)
            self._by_stem.setdefault(path.stem, []).append(path)

    def _usable(self, path: Path) -> bool:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            return False
        try:
            confine(self.root, path.relative_to(self.root).as_posix())
        except UnsafePathError:  # leads outside, or a name with control characters or undecodable bytes
            return False
        return is_regular_file(path)

    def find(self, relative: str) -> Path:
        """``relative``: "a/b.jpg" (exact), "a/b" (any image suffix) or just a file name or stem anywhere
        in the tree when that is unique. Raises ``LookupError`` with the reason, and ``UnsafePathError``
        (a ``ValueError``) for a path that would leave the folder."""
        rel = check_relative(relative)
        if rel.suffix.lower() in IMAGE_SUFFIXES and rel.as_posix() in self._by_relative:
            return self._by_relative[rel.as_posix()]
        same_stem = self._by_relative_stem.get(rel.as_posix(), [])
        for suffix in _with_upper(IMAGE_SUFFIXES):
            for candidate in same_stem:
                if candidate.suffix == suffix:
                    return candidate
        matches = self._by_name.get(rel.name) or self._by_stem.get(rel.stem if rel.suffix.lower() in IMAGE_SUFFIXES
                                                                     else rel.name, [])
        if len(matches) == 1:
            return matches[0]
        shown = printable(relative)
        if matches:
            raise LookupError(f"'{shown}' matches {len(matches)} images in {printable(self.root)}")
        raise LookupError(f"no image for '{shown}' in {printable(self.root)}")


MAX_LABEL_FILE_BYTES = 256 * 1024**2  # one label file (a VOC XML, a YOLO txt, classes.txt); real ones are KBs


def label_files(folder: Path, pattern: str) -> list[Path]:
    """The files matching ``pattern`` under ``folder``, sorted (symlinked folders are not entered). Check each
    with ``confine(folder, ...)`` before reading it: a symlink among them may lead elsewhere."""
    try:
        return sorted(folder.rglob(pattern)) if folder.is_dir() else []
    except (OSError, ValueError) as exc:
        raise ImportValidationError(f"cannot list {printable(folder)}: {printable(exc)}") from exc


def read_label_file(path: Path, folder: Path | None = None, max_bytes: int = MAX_LABEL_FILE_BYTES) -> bytes:
    """The bytes of a label file: with ``folder``, only when it lies inside it (``confine``); only a regular file
    (never a pipe or a device) and at most ``max_bytes``. Raises ``UnsafePathError`` (a ``ValueError``) or an
    ``OSError`` whose message says why."""
    if folder is not None:
        path = confine(folder, path.relative_to(folder).as_posix())
    return read_regular_file(path, max_bytes)


def read_label_text(path: Path, folder: Path | None = None) -> str:
    """:func:`read_label_file` decoded as UTF-8 (a byte-order mark is dropped); ``UnicodeDecodeError`` is a
    ``ValueError``."""
    return read_label_file(path, folder).decode("utf-8-sig")


def parse_xml(data: bytes) -> Element:
    """The root element of an XML label file. A DTD, and with it every entity (billion laughs, external
    files), is refused: label files never need one. Raises ``ValueError`` or ``xml.etree.ElementTree.ParseError``."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:  # a ValueError: the message names the DTD or entity
        raise ValueError(f"refused: {type(exc).__name__} (DTDs and entities are not read)") from None


def problem_text(exc: BaseException) -> str:
    """One printable phrase for an error met while reading a label file."""
    if isinstance(exc, OSError) and exc.strerror:
        return printable(exc.strerror)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return printable(exc)


def _with_upper(suffixes: Iterable[str]) -> list[str]:
    return [s for suffix in suffixes for s in (suffix, suffix.upper())]

