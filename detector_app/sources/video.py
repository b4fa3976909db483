"""Video files through OpenCV (anything its FFmpeg build decodes)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from detector_app.errors import SourceError
from detector_app.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"})


class VideoSource(FrameSource):
    """Frames of a video file. A file that ends early (truncated, corrupt) stops with a logged warning."""

    kind = "video"

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path)
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise SourceError(f"cannot read {self.path}: not a video OpenCV can decode (unsupported type or corrupt file)")
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count = count if count > 0 else None
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self._fps = fps if 0 < fps < 1000 else None
        self._next = 0
        # Decode one frame now so a file with no decodable frame fails here, with a clear message.
        self._pending = self._decode()
        if self._pending is None:
            self._cap.release()
            raise SourceError(f"cannot read {self.path}: no decodable video frame (corrupt or unsupported file)")

    @property
    def frame_count(self) -> int | None:
        return self._count

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def description(self) -> str:
        return f"video {self.path.name}"

    def read(self) -> Frame | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            image = self._decode()
        if image is None:
            self._warn_if_early()
            return None
        frame = Frame(image, self._next, self._timestamp(self._next), str(self.path), "video", str(self.path))
        self._next += 1
        return frame

    def seek(self, index: int) -> None:
        self._check_seek(index)
        if not self._cap.isOpened() or not self._cap.set(cv2.CAP_PROP_POS_FRAMES, index):
            raise SourceError(f"cannot seek {self.description} to frame {index}")
        self._next = index
        self._pending = None

    def close(self) -> None:
        self._pending = None
        self._cap.release()

    def _decode(self) -> np.ndarray | None:
        if not self._cap.isOpened():
            return None
        try:
            ok, image = self._cap.read()
        except cv2.error as exc:  # rare, but a damaged stream must end the video, not the app
            log.warning("%s: decoding stopped at frame %d: %s", self.path, self._next, exc)
            return None
        return image if ok and image is not None else None

    def _warn_if_early(self) -> None:
        if self._count is not None and self._next < self._count and self._cap.isOpened():
            log.warning(
                "%s ended after %d of %d frames (truncated or corrupt file); keeping the frames read",
                self.path, self._next, self._count,
            )
            self._count = self._next  # warn once; the count is now known exactly

    def _timestamp(self, index: int) -> float:
        if self._fps:
            return index / self._fps
        return float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
