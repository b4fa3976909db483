"""The decode cache gives the frame that sequential decoding gives, at any index and in any order, on real
videos (MPEG-4 part 2 and H.264 from ../shared/data/video) and on a written MJPG file; memory stays within
its budget and stepping forward never seeks."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.errors import SourceError
from detector_app.sources.frame_cache import FrameCache, probe_video

from .conftest import REPO_ROOT

VIDEOS = REPO_ROOT.parent / "shared" / "data" / "video"
needs_videos = pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"shared test videos not found at {VIDEOS}")


def reference_hashes(path: Path, count: int) -> list[str]:
    """sha1 of each of the first ``count`` frames, decoded one after another (the truth seeks are checked on)."""
    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        for _ in range(count):
            ok, image = cap.read()
            assert ok
            out.append(hashlib.sha1(image.tobytes()).hexdigest())
    finally:
        cap.release()
    return out


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest()


def write_mjpg(path: Path, frames: int, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    assert writer.isOpened()
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.putText(image, str(i), (2, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        image[:, :, 0] = i % 256
        writer.write(image)
    writer.release()
    return path


@needs_videos
@pytest.mark.parametrize(("name", "count"), [("vtest.avi", 180), ("car-detection.mp4", 180)])
def test_random_access_and_stepping_match_sequential_decoding(name: str, count: int) -> None:
    path = VIDEOS / name
    truth = reference_hashes(path, count)
    rng = random.Random(7)
    order = rng.sample(range(count), 15) + [5, 6, 7, 8, 9, 10, 60, 59, 58, count - 1, 0, 1, 120, 121, 170]
    with FrameCache(path, budget_bytes=20 * 1024 * 1024, frame_count=count) as cache:
        for index in order:
            assert digest(cache.frame(index)) == truth[index], f"frame {index} of {name}"
        assert cache.exact_seek is not None  # a seek happened and was checked
        assert cache.cached_bytes <= cache.budget_bytes
        hits = cache.stats["hits"]
        assert digest(cache.frame(170)) == truth[170] and cache.stats["hits"] == hits + 1  # the last one is kept


def test_seeks_on_mjpg_are_exact_and_stepping_never_seeks(tmp_path: Path) -> None:
    path = write_mjpg(tmp_path / "steps.avi", 120)
    truth = reference_hashes(path, 120)
    with FrameCache(path) as cache:
        for index in range(50):
            assert digest(cache.frame(index)) == truth[index]
        assert cache.stats["seeks"] == 0 and cache.stats["decoded"] == 50
        assert digest(cache.frame(100)) == truth[100] and cache.exact_seek is True
        assert digest(cache.frame(3)) == truth[3] and cache.stats["hits"] == 1  # frame 3 was still cached
        assert digest(cache.frame(70)) == truth[70]  # a jump ahead of 70 > 48 frames: seek
        assert digest(cache.frame(90)) == truth[90] and cache.stats["skipped"] == 19  # a short jump: grabs


def test_the_byte_budget_bounds_the_cache(tmp_path: Path) -> None:
    path = write_mjpg(tmp_path / "budget.avi", 30)
    frame_bytes = 64 * 48 * 3
    with FrameCache(path, budget_bytes=3 * frame_bytes) as cache:
        for index in range(30):
            cache.frame(index)
            assert cache.cached_bytes <= 3 * frame_bytes
        assert cache.cached_bytes == 3 * frame_bytes
        cache.frame(29)
        assert cache.stats["hits"] == 1  # the last three frames are the ones kept
        with pytest.raises(ValueError):
            cache.frame(29)[0, 0, 0] = 1  # shared with the cache: read-only


def test_bad_indices_and_files_raise_one_clear_error(tmp_path: Path) -> None:
    path = write_mjpg(tmp_path / "short.avi", 10)
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height, info.fps) == (10, 64, 48, 25.0)
    assert len(info.fingerprint) == 64 and probe_video(path).fingerprint == info.fingerprint
    with FrameCache(path) as cache:
        with pytest.raises(SourceError, match="frames 0 to 9, not 10"):
            cache.frame(10)
        with pytest.raises(SourceError, match="not -1"):
            cache.frame(-1)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(SourceError, match="cannot"):
        probe_video(text)
    with pytest.raises(SourceError, match="not a video file"):
        probe_video(tmp_path / "missing.mp4")


@needs_videos
def test_probe_reads_the_header_of_a_real_video() -> None:
    info = probe_video(VIDEOS / "vtest.avi")
    assert (info.frame_count, info.width, info.height, info.fps) == (795, 768, 576, 10.0)
