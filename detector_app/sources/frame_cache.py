"""Frame i of a video, decoded on demand: an LRU of decoded frames within a byte budget, forward decoding for
stepping, and seeks that are checked once against sequential decoding.

How a frame is reached, cheapest first: the cache; the decoder's next frame (stepping forward); a short jump
ahead (``grab`` skips frames without converting them); a seek with ``CAP_PROP_POS_FRAMES``. OpenCV's seek is
frame-exact for intra-only codecs (MJPG) and for most FFmpeg containers, but not for every codec and file
(it can land on a nearby keyframe). The first seek of a cache is therefore checked: the frame it gives is
compared with the same frame decoded from a known position. If they differ, seeks are not trusted: a jump
back reopens the video and decodes forward from the start (slow but right), and ``exact_seek`` says so.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector_app.errors import SourceError

DEFAULT_BUDGET = 256 * 1024 * 1024  # bytes of decoded frames kept (about 90 full-HD frames)
FORWARD_JUMP = 48  # a jump ahead up to this many frames decodes forward instead of seeking
FINGERPRINT_BLOCK = 1 << 20


@dataclass(frozen=True)
class VideoInfo:
    """What a video task records about its file."""

    path: Path
    frame_count: int
    fps: float | None
    width: int
    height: int
    fingerprint: str  # sha256 of the size and the first and last MiB: changes when the file is replaced


def fingerprint(path: Path) -> str:
    """A quick content fingerprint (reads at most 2 MiB however large the video is)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest.update(str(size).encode())
            digest.update(f.read(FINGERPRINT_BLOCK))
            if size > 2 * FINGERPRINT_BLOCK:
                f.seek(size - FINGERPRINT_BLOCK)
            digest.update(f.read(FINGERPRINT_BLOCK))
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, rate, size and fingerprint of a video OpenCV can decode (reads its header, not its frames)."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"cannot open {path}: not a video file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SourceError(f"cannot read {path}: not a video OpenCV can decode (unsupported type or corrupt file)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    if count <= 0 or width <= 0 or height <= 0:
        raise SourceError(f"cannot label {path}: its frame count or size is unknown (a stream, or a damaged file)")
    return VideoInfo(path, count, fps if 0 < fps < 1000 else None, width, height, fingerprint(path))


class FrameCache:
    """Random access to the frames of one video. Thread-safe; frames are returned read-only (they are shared
    with the cache). ``budget_bytes`` bounds the memory the decoded frames take."""

    def __init__(self, path: str | Path, budget_bytes: int = DEFAULT_BUDGET, frame_count: int | None = None) -> None:
        self.path = Path(path)
        self.budget_bytes = int(budget_bytes)
        self._lock = threading.Lock()
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._cap = self._open()
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = frame_count if frame_count is not None else count
        self._next = 0  # index of the frame the decoder gives next
        self._lost = False  # after a failed read the position is unknown: the next access seeks
        self.exact_seek: bool | None = None  # None until the first seek was checked
        self.stats = {"hits": 0, "decoded": 0, "skipped": 0, "seeks": 0}

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def frame(self, index: int) -> np.ndarray:
        """The BGR frame ``index`` (0-based). Raises ``SourceError`` outside the video or when it cannot be
        decoded."""
        if not 0 <= index < self.frame_count:
            raise SourceError(f"{self.path.name} has frames 0 to {self.frame_count - 1}, not {index}")
        with self._lock:
            cached = self._frames.get(index)
            if cached is not None:
                self._frames.move_to_end(index)
                self.stats["hits"] += 1
                return cached
            image = self._decode_at(index)
            self._keep(index, image)
            return image

    def close(self) -> None:
        with self._lock:
            self._cap.release()
            self._frames.clear()
            self._bytes = 0

    def __enter__(self) -> FrameCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- decoding -------------------------------------------------------------------------------------

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"cannot read {self.path}: not a video OpenCV can decode")
        return cap

    def _decode_at(self, index: int) -> np.ndarray:
        if self._lost or not self._next <= index <= self._next + FORWARD_JUMP:
            self._seek(index)
        while self._next < index:  # decode forward: grab skips the colour conversion of frames not wanted
            if not self._cap.grab():
                raise self._unreadable(index)
            self._next += 1
            self.stats["skipped"] += 1
        return self._read(index)

    def _read(self, index: int) -> np.ndarray:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise self._unreadable(index)
        self._next = index + 1
        self.stats["decoded"] += 1
        image.flags.writeable = False
        return image

    def _seek(self, index: int) -> None:
        self.stats["seeks"] += 1
        if self.exact_seek is None:
            self.exact_seek = self._check_seek(index)
            self._lost = not self.exact_seek  # the check moved the decoder: start again when seeks are off
        if self.exact_seek:
            if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, index):
                raise SourceError(f"cannot seek {self.path.name} to frame {index}")
            self._next = index
        elif index < self._next or self._lost:  # seeks are not trusted: start again and decode forward
            self._cap.release()
            self._cap = self._open()
            self._next = 0
        self._lost = False

    def _check_seek(self, index: int) -> bool:
        """Does a seek give the frame that decoding from the start gives? Checked at ``index`` (or, for a far one,
        at frame ``4 * FORWARD_JUMP``, so the check stays quick) with a second decoder as the reference."""
        target = min(index, FORWARD_JUMP * 4)
        probe = self._open()
        try:
            for _ in range(target):
                if not probe.grab():
                    return False
            ok, expected = probe.read()
            if not ok or not self._cap.set(cv2.CAP_PROP_POS_FRAMES, target):
                return False
            ok, got = self._cap.read()
            return bool(ok) and got.shape == expected.shape and np.array_equal(got, expected)
        finally:
            probe.release()

    def _unreadable(self, index: int) -> SourceError:
        self._lost = True
        return SourceError(f"cannot decode frame {index} of {self.path.name} (truncated or corrupt file)")

    def _keep(self, index: int, image: np.ndarray) -> None:
        size = image.nbytes
        if size > self.budget_bytes:
            return
        self._frames[index] = image
        self._bytes += size
        while self._bytes > self.budget_bytes:
            _, old = self._frames.popitem(last=False)
            self._bytes -= old.nbytes
