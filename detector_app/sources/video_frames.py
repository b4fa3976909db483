"""Labelled frames read back from their videos, in any order: training, evaluation and exports that copy images.

A frame of a video task is stored as an image row whose file is never written (``<video>.frames/<index>.png``,
migration 0005); a captured frame has a file, but it may have been deleted since. The rule for both is one:
an image's pixels come from its file, and, when that file is gone, from frame ``frame_index`` of its video.
``VideoFrames`` keeps a few videos open, each a ``FrameCache`` (checked seeks, a bounded LRU of decoded
frames), so an epoch over many frames of one video does not reopen it for every frame.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from detector_app.errors import SourceError
from detector_app.sources.frame_cache import FrameCache

OPEN_VIDEOS = 4  # videos kept open at once; the least recently read one is closed first
BUDGET_PER_VIDEO = 64 * 1024 * 1024  # bytes of decoded frames kept per open video


class VideoFrames:
    """Frame ``index`` of the video at a path; thread-safe. Use as a context manager or call ``close``."""

    def __init__(self, open_videos: int = OPEN_VIDEOS, budget_bytes: int = BUDGET_PER_VIDEO) -> None:
        self.open_videos = open_videos
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._caches: OrderedDict[Path, FrameCache] = OrderedDict()

    def frame(self, video: str | Path, index: int) -> np.ndarray:
        """The BGR frame (read-only, shared with the cache). Raises ``SourceError`` with one line when the
        video is missing, not a regular file (a FIFO would block the decoder), or the frame cannot be decoded."""
        return self._cache(Path(video)).frame(index)

    def close(self) -> None:
        with self._lock:
            for cache in self._caches.values():
                cache.close()
            self._caches.clear()

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _cache(self, path: Path) -> FrameCache:
        with self._lock:
            cache = self._caches.get(path)
            if cache is not None:
                self._caches.move_to_end(path)
                return cache
            check_video_file(path)
            cache = FrameCache(path, budget_bytes=self.budget_bytes)
            self._caches[path] = cache
            while len(self._caches) > self.open_videos:
                self._caches.popitem(last=False)[1].close()
            return cache


def check_video_file(path: Path) -> None:
    """Refuse a video path that is missing or not a regular file before a decoder opens it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise SourceError(f"the video {path} is missing") from None
    if not stat.S_ISREG(mode):
        raise SourceError(f"the video {path} is not a regular file")
