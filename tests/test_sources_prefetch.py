"""Reading frames ahead in a thread (sources/prefetch.py): order, errors, stopping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from detector_app.errors import SourceError
from detector_app.sources import Frame
from detector_app.sources.prefetch import read_ahead


def _frames(n: int, fail_at: int | None = None):
    for i in range(n):
        if i == fail_at:
            raise SourceError("device lost")
        yield Frame(np.zeros((2, 2, 3), np.uint8), i, 0.0, "test", "video")


def test_read_ahead_keeps_order_and_passes_errors_on() -> None:
    assert [f.index for f in read_ahead(_frames(25), depth=3)] == list(range(25))
    got = []
    with pytest.raises(SourceError, match="device lost"):
        for frame in read_ahead(_frames(10, fail_at=6)):
            got.append(frame.index)
    assert got == list(range(6))


def test_read_ahead_stops_its_thread_when_closed() -> None:
    frames = read_ahead(_frames(10_000), depth=2)
    next(frames)
    frames.close()
    time.sleep(0.3)
    assert not any(t.name == "frame-reader" and t.is_alive() for t in threading.enumerate())
