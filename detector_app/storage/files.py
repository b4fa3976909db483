"""Image files of a project: checking them (the rule lives in detector_app.core.images), hashes, writing
captured frames safely."""

from __future__ import annotations

import os
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from detector_app.errors import StorageError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ImageInfo", "encode_frame", "frame_name", "read_image_info", "write_file_durably"]


@dataclass(frozen=True)
class ImageInfo:
    """Size of an image as displayed (EXIF orientation applied, the way OpenCV and the GUI load it)."""

    width: int
    height: int
    sha256: str
    rotated: bool  # EXIF orientation 5-8: the stored pixels are height x width


def read_image_info(path: Path) -> ImageInfo:
    """Size and content hash of an image file the app can use (:func:`detector_app.core.images.check_image`).

    Raises UnusableImageError (a StorageError) with a one-line reason for any other file.
    """
    # The image rule needs Pillow and numpy (0.3 s to import): only commands that add image files load them,
    # stats and export start without.
    from detector_app.core.images import check_image

    info = check_image(path, digest=True)  # one read of the file for the check and the hash
    assert info.sha256 is not None
    return ImageInfo(info.width, info.height, info.sha256, info.rotated)


def encode_frame(image_bgr: np.ndarray, ext: str) -> bytes:
    import cv2  # imported here, numpy too: most storage users never write frames
    import numpy as np

    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3) \
            or image_bgr.size == 0:
        raise StorageError("a frame must be a non-empty uint8 image array (H x W x 3, BGR)")
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, image_bgr, params)
    if not ok:
        raise StorageError(f"could not encode the frame as {ext}")
    return buf.tobytes()


def frame_name(origin: str, video: str | None, frame_index: int | None, ext: str) -> str:
    unique = uuid.uuid4().hex[:8]  # two captures never share a name, even within one millisecond
    if video is not None:
        stem = Path(video).stem[:40] or "video"
        index = f"{frame_index:07d}" if frame_index is not None else "x"
        return f"{origin}-{stem}-{zlib.crc32(video.encode()):08x}-{index}-{unique}{ext}"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{origin}-{stamp}-{unique}{ext}"


def write_file_durably(target: Path, data: bytes) -> None:
    """Write then rename, fsynced, so a row committed afterwards never points at a half-written file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write frame {target}: {exc.strerror or exc}") from exc
