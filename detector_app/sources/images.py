"""Still images: a folder (recursive, natural order) or a single file.

Decoding is real (Pillow, with EXIF orientation applied), so a file that is empty, truncated or not an
image is found here: a folder reports it in ``skipped`` and goes on; a single image raises SourceError.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from detector_app.errors import SourceError
from detector_app.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# Pillow converts these high-bit-depth modes to RGB by clipping; OpenCV scales them to 8 bits instead.
_WIDE_MODES = frozenset({"I", "F", "I;16", "I;16B", "I;16L", "I;16N"})


class ImageDecodeError(Exception):
    """A file that is not a decodable image; the message is the reason shown to the user."""


def natural_key(text: str) -> list[object]:
    """Sort key where digit runs compare as numbers: img2 < img10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


def list_images(folder: Path) -> list[Path]:
    files = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted(files, key=lambda p: natural_key(p.relative_to(folder).as_posix()))


def decode_image(path: Path) -> np.ndarray:
    """BGR uint8 pixels of ``path`` as displayed (EXIF orientation applied); ImageDecodeError if unreadable."""
    try:
        if path.stat().st_size == 0:
            raise ImageDecodeError("empty file (0 bytes)")
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)  # also forces a full decode: truncation shows up here
            if image.mode in _WIDE_MODES:
                return _decode_wide(path)
            rgb = np.asarray(image.convert("RGB"))
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not an image (unknown or damaged format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"cannot decode: {exc}") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _decode_wide(path: Path) -> np.ndarray:
    # IMREAD_COLOR converts to 8-bit BGR and applies EXIF orientation itself.
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError("cannot decode high bit-depth image")
    return image


class ImageFolderSource(FrameSource):
    """Every image under a folder, recursively. ``frame.index`` is the file's position in ``files``."""

    kind = "image"

    def __init__(self, folder: Path | str) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.files = list_images(self.folder)
        if not self.files:
            kinds = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
            raise SourceError(f"no images ({kinds}) found in {self.folder}")
        self._next = 0

    @property
    def frame_count(self) -> int:
        return len(self.files)

    @property
    def description(self) -> str:
        return f"image folder {self.folder}"

    def read(self) -> Frame | None:
        while self._next < len(self.files):
            index, path = self._next, self.files[self._next]
            self._next += 1
            try:
                image = decode_image(path)
            except ImageDecodeError as exc:
                self._skip(path, str(exc))
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


class SingleImageSource(FrameSource):
    """One image file, decoded on opening so that a bad file is an error straight away."""

    kind = "image"

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            self._image = decode_image(self.path)
        except ImageDecodeError as exc:
            raise SourceError(f"cannot read image {self.path}: {exc}") from None
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
