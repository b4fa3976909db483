"""Video sources (sources/video.py): every frame of the real videos, seeking, timestamps, truncated files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from detector_app.errors import SourceError
from detector_app.sources import open_source
from detector_app.sources.video import VideoSource

from .helpers_detection import write_video

VIDEO_NAMES = ("vtest.avi", "car-detection.mp4", "one-by-one-person-detection.mp4")


@pytest.mark.parametrize("name", VIDEO_NAMES)
def test_reads_every_frame_of_the_shared_videos(shared_data: Path, name: str) -> None:
    path = shared_data / "video" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with open_source(path) as source:
        assert isinstance(source, VideoSource) and source.fps and source.frame_count
        count, fps = source.frame_count, source.fps
        first_shape = None
        n = 0
        for n, frame in enumerate(source, start=1):
            assert frame.index == n - 1 and frame.kind == "video" and frame.video_path == str(path)
            assert frame.image.dtype == np.uint8 and frame.image.ndim == 3 and frame.image.shape[2] == 3
            first_shape = first_shape or frame.image.shape
            assert frame.image.shape == first_shape
        assert abs(frame.timestamp - (n - 1) / fps) < 1e-6
    assert n == count, f"{name}: read {n} frames, container says {count}"


def test_video_seek_and_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", frames=20, fps=5.0)
    with VideoSource(path) as source:
        assert source.frame_count == 20 and source.fps == pytest.approx(5.0)
        sequential = [f.image for f in source]
        source.seek(12)
        frame = source.read()
        assert frame is not None and frame.index == 12 and frame.timestamp == pytest.approx(12 / 5.0)
        assert np.abs(frame.image.astype(int) - sequential[12].astype(int)).max() <= 2
        with pytest.raises(SourceError):
            source.seek(20)


def test_truncated_video_stops_cleanly_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_video(tmp_path / "full.avi", frames=30)
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING), VideoSource(cut) as source:
        frames = list(source)
    assert 0 < len(frames) < 30
    assert any("truncated or corrupt" in r.message for r in caplog.records)
