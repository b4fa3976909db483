"""detect_frames: every frame, in order, with parallel workers; errors and early stops handled."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import torch

from detector_app.core.detections import Detections
from detector_app.detection.batch import detect_frames
from detector_app.sources.base import Frame


class SlowEcho:
    """Stands in for a Detector: takes a random time and returns the frame's value as its score."""

    device = torch.device("cpu")

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.threads: set[str] = set()
        self.torch_threads: set[int] = set()

    def predict(self, image: np.ndarray) -> Detections:
        value = int(image[0, 0, 0])
        self.threads.add(threading.current_thread().name)
        self.torch_threads.add(torch.get_num_threads())
        time.sleep(random.uniform(0, 0.02))
        if value == self.fail_at:
            raise RuntimeError(f"failed on {value}")
        return Detections(np.zeros((1, 4)), np.array([value / 100]), np.array([1]), ("bg", "x"))


def frames(n: int) -> list[Frame]:
    return [Frame(np.full((2, 2, 3), i, np.uint8), i, 0.0, "t", "video") for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_frame_in_order(workers: int) -> None:
    detector = SlowEcho()
    before = torch.get_num_threads()
    out = list(detect_frames(frames(40), detector, workers=workers))  # type: ignore[arg-type]
    assert [f.index for f, _ in out] == list(range(40))
    assert [round(float(d.scores[0]) * 100) for _, d in out] == list(range(40))
    if workers > 1:
        assert len(detector.threads) == workers  # frames really ran side by side
        assert detector.torch_threads == {max(1, before // workers)}  # each on its share of the cores
    assert torch.get_num_threads() == before


def test_a_failing_frame_raises_and_stops_the_workers() -> None:
    seen = []
    with pytest.raises(RuntimeError, match="failed on 7"):
        for frame, _ in detect_frames(frames(100), SlowEcho(fail_at=7), workers=2):  # type: ignore[arg-type]
            seen.append(frame.index)
    assert seen == list(range(7))
    assert not _threads_left(("detect",))


def test_closing_early_stops_reading_and_inference() -> None:
    results = detect_frames(frames(200), SlowEcho(), workers=2)  # type: ignore[arg-type]
    assert next(results)[0].index == 0
    results.close()
    assert not _threads_left(("detect", "frame-reader"))


def _threads_left(prefixes: tuple[str, ...], within: float = 10.0) -> list[str]:
    """The named threads still alive once they had ``within`` seconds to stop (a fixed short sleep failed
    under a loaded CI machine: the reader was stopping, not stuck)."""
    deadline = time.monotonic() + within
    while True:
        left = [t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith(prefixes)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
