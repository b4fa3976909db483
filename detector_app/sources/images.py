"""Still images: a folder (recursive, natural order) or a single file.

Decoding is real and follows the app's one image rule (``detector_app.core.images.check_image``: Pillow,
EXIF orientation applied, size limits), so a file that is empty, truncated, not an image, a decompression
bomb or too thin to resize for the model is found here: a folder reports it in ``skipped`` and goes on; a
single image raises SourceError. Import refuses exactly the same files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from detector_app.core.images import UnusableImageError, decode_image
from detector_app.core.labels import IMAGE_SUFFIXES
from detector_app.errors import SourceError
from detector_app.sources.base import Frame, FrameSource

__all__ = ["ImageDecodeError", "ImageFilesSource", "ImageFolderSource", "SingleImageSource", "decode_image",
           "list_images", "natural_key"]

log = logging.getLogger(__name__)

# A file the image rule refuses; ``reason`` is what a folder run reports.
ImageDecodeError = UnusableImageError


def natural_key(text: str) -> list[object]:
    """Sort key where digit runs compare as numbers: img2 < img10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


def list_images(folder: Path) -> list[Path]:
    files = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted(files, key=lambda p: natural_key(p.relative_to(folder).as_posix()))


class ImageFilesSource(FrameSource):
    """Given image files, in order; unusable ones are skipped (listed in ``skipped``, once each).
    ``frame.index`` is the file's position in ``files``."""

    kind = "image"

    def __init__(self, files: Sequence[Path], description: str | None = None) -> None:
        super().__init__()
        self.files = list(files)
        self._description = description or f"{len(self.files)} images"
        self._next = 0

    @property
    def frame_count(self) -> int:
        return len(self.files)

    @property
    def description(self) -> str:
        return self._description

    def read(self) -> Frame | None:
        while self._next < len(self.files):
            index, path = self._next, self.files[self._next]
            self._next += 1
            try:
                image = decode_image(path)
            except UnusableImageError as exc:
                self._skip(path, exc.reason)
                continue
            return Frame(image, index, 0.0, str(path), "image")
        return None

    def seek(self, index: int) -> None:
        self._check_seek(index)
        self._next = index

    def _skip(self, path: Path, reason: str) -> None:
        if all(p != str(path) for p, _ in self.skipped):  # seeking back must not report a file twice
            self.skipped.append((str(path), reason))
        log.warning("skipped %s: %s", path, reason)


class ImageFolderSource(ImageFilesSource):
    """Every image under a folder, recursively, in natural order."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        files = list_images(self.folder)
        if not files:
            kinds = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
            raise SourceError(f"no images ({kinds}) found in {self.folder}")
        super().__init__(files, f"image folder {self.folder}")


class SingleImageSource(FrameSource):
    """One image file, decoded on opening so that a bad file is an error straight away."""

    kind = "image"

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            self._image = decode_image(self.path)
        except UnusableImageError as exc:
            raise SourceError(f"cannot read image {self.path}: {exc.reason}") from None
        self._done = False

    @property
    def frame_count(self) -> int:
        return 1

    @property
    def description(self) -> str:
        return f"image {self.path.name}"

    def read(self) -> Frame | None:
        if self._done:
            return None
        self._done = True
        return Frame(self._image, 0, 0.0, str(self.path), "image")

    def seek(self, index: int) -> None:
        self._check_seek(index)
        self._done = False
