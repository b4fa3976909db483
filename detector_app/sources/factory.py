"""``open_source``: the right FrameSource for a webcam index, folder, image or video."""

from __future__ import annotations

import re
from pathlib import Path

from detector_app.core.labels import IMAGE_SUFFIXES
from detector_app.errors import SourceError
from detector_app.sources.base import FrameSource
from detector_app.sources.images import ImageFolderSource, SingleImageSource
from detector_app.sources.video import VideoSource
from detector_app.sources.webcam import WebcamSource

_WEBCAM = re.compile(r"webcam:(\d+)")


def open_source(spec: str | int | Path) -> FrameSource:
    """int or ``"webcam:N"`` -> webcam; folder -> image folder; image file; video file; else SourceError.

    Built-in kinds only: ``plugins_api.sources.open_any_source`` then asks the source plugins (stream URLs)."""
    if isinstance(spec, int):
        return WebcamSource(spec)
    text = str(spec)
    if match := _WEBCAM.fullmatch(text):
        return WebcamSource(int(match.group(1)))
    path = Path(text).expanduser()
    if not path.exists():
        if text.isdigit():  # a bare number that is not a file means a camera index
            return WebcamSource(int(text))
        raise SourceError(f"no such file or folder: {path}")
    if path.is_dir():
        return ImageFolderSource(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return SingleImageSource(path)
    return VideoSource(path)
