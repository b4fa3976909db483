"""``Frame`` and the ``FrameSource`` interface shared by webcams, videos and image folders."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from detector_app.errors import SourceError

FrameKind = Literal["image", "video", "webcam"]


@dataclass(frozen=True)
class Frame:
    """One BGR uint8 image (HxWx3) with where and when it came from.

    ``index`` counts from 0 within the source; ``timestamp`` is seconds into a video (frame index / fps),
    seconds since opening for a webcam, and 0 for still images. ``origin`` is the file path or ``webcam:N``.
    """

    image: np.ndarray
    index: int
    timestamp: float
    origin: str
    kind: FrameKind
    video_path: str | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class FrameSource(ABC):
    """Frames one at a time: ``read()`` returns None at the end. Use as an iterator and a context manager."""

    kind: FrameKind
    is_live: bool = False

    def __init__(self) -> None:
        # (path, reason) for each file an image folder could not decode; always empty for videos/webcams.
        self.skipped: list[tuple[str, str]] = []

    @abstractmethod
    def read(self) -> Frame | None: ...

    @property
    @abstractmethod
    def frame_count(self) -> int | None:
        """Total frames when known (None for webcams and streams without a count)."""

    @property
    def fps(self) -> float | None:
        return None

    @property
    def description(self) -> str:
        return type(self).__name__

    def seek(self, index: int) -> None:
        raise SourceError(f"{self.description} cannot seek")

    def close(self) -> None:  # noqa: B027 - sources without a file or device have nothing to release
        """Release the device or file; reading afterwards returns None."""

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_seek(self, index: int) -> None:
        count = self.frame_count
        if index < 0 or (count is not None and index >= count):
            raise SourceError(f"cannot seek {self.description} to frame {index}: it has {count} frames")
