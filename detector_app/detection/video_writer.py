"""Annotated video output through OpenCV's VideoWriter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from detector_app.errors import DetectorAppError

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


class VideoWriter:
    """Opens on the first frame (its size fixes the video's); later frames of another size are resized."""

    def __init__(self, path: Path | str, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in _FOURCC:
            raise DetectorAppError(f"cannot write video {self.path.name}: use one of {', '.join(sorted(_FOURCC))}")
        self.fps = fps if fps > 0 else 10.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, image_bgr: np.ndarray) -> None:
        if self._writer is None:
            self._open(image_bgr)
        assert self._size is not None and self._writer is not None
        if (image_bgr.shape[1], image_bgr.shape[0]) != self._size:
            image_bgr = cv2.resize(image_bgr, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image_bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def _open(self, first: np.ndarray) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._size = (int(first.shape[1]), int(first.shape[0]))
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
        self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
        if not self._writer.isOpened():
            raise DetectorAppError(f"cannot write video {self.path}: OpenCV could not open it for writing")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
