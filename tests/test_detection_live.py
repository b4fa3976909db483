"""Live pipeline: latest-frame-wins hand-off, bounded latency, clean stop and error reporting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.live import LatestSlot, LivePipeline, LiveResult, RateMeter
from detector_app.sources.base import Frame, FrameSource
from detector_app.sources.video import VideoSource

from .helpers_detection import spread_model, write_video


class TimedDetector:
    """Records how long each predict takes, to separate waiting from computing in the latency."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.durations: list[float] = []

    def predict(self, image: np.ndarray) -> Detections:
        start = time.monotonic()
        out = self.detector.predict(image)
        self.durations.append(time.monotonic() - start)
        return out


class FastLoop(FrameSource):
    """A video replayed in a loop at ``fps`` (far faster than inference): a camera that never stops."""

    def __init__(self, video: VideoSource, fps: float) -> None:
        super().__init__()
        self.video, self.interval, self.count = video, 1.0 / fps, 0

    @property
    def frame_count(self) -> None:
        return None

    def read(self) -> Frame | None:
        time.sleep(self.interval)
        frame = self.video.read()
        if frame is None:
            self.video.seek(0)
            frame = self.video.read()
        self.count += 1
        return frame

    def close(self) -> None:
        self.video.close()


@pytest.fixture(scope="module")
def detector() -> Detector:
    det = Detector(spread_model("retinanet_light", seed=2), DetectorConfig(size=160, score_threshold=0.5))
    det.predict(np.zeros((120, 160, 3), np.uint8))  # warm-up, so the first latency is not an outlier
    return det


def test_latest_slot_keeps_only_the_newest_item() -> None:
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        assert slot.put(i)
    assert slot.get(timeout=0) == 4 and slot.dropped == 4
    assert slot.get(timeout=0.01) is None
    slot.put(7)
    slot.close()
    assert not slot.put(8)
    assert slot.get() == 7 and slot.get() is None  # a closed slot never blocks


def test_latest_slot_wakes_a_waiting_reader() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got: list[str | None] = []
    reader = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    reader.start()
    time.sleep(0.05)
    slot.put("frame")
    reader.join(5)
    assert got == ["frame"]


def test_rate_meter() -> None:
    meter = RateMeter(window=5)
    for i in range(10):
        meter.tick(i * 0.25)
    assert meter.rate == pytest.approx(4.0)


def test_latency_stays_bounded_when_frames_come_faster_than_inference(shared_data: Path,
                                                                      detector: Detector) -> None:
    """Must-show 4: vtest.avi fed at 200 frames/s, far above the inference rate."""
    timed = TimedDetector(detector)
    results: list[LiveResult] = []
    enough = threading.Event()

    def on_result(result: LiveResult) -> None:
        results.append(result)
        if len(results) >= 15:
            enough.set()

    source = FastLoop(VideoSource(shared_data / "video" / "vtest.avi"), fps=200)
    pipeline = LivePipeline(source, timed, on_result, pace=False).start()  # type: ignore[arg-type]
    assert enough.wait(120), f"only {len(results)} results"
    pipeline.stop()
    latencies = np.array([r.latency_s for r in results])
    durations = np.array(timed.durations[: len(results)])
    stats = pipeline.stats

    assert stats.capture_fps > 2 * stats.inference_fps > 0
    assert stats.dropped > len(results), "stale frames must be dropped, not queued"
    assert source.count > 2 * len(results)
    indices = np.array([r.frame.index for r in results])
    steps = np.diff(indices)[np.diff(indices) > 0]  # (the video loops back to 0 every 795 frames)
    assert steps.mean() > 2, "results skip ahead to fresh frames"
    # A frame waits in the slot only while the detector finishes the previous one.
    waits = latencies - durations
    assert waits.max() < durations.max() + 0.25, f"waits {np.round(waits, 3)}"
    first, last = latencies[:5].mean(), latencies[-5:].mean()
    assert last <= 1.5 * first, f"latency grew from {first:.3f}s to {last:.3f}s"


def test_pipeline_runs_to_the_end_of_a_file_and_reports(tmp_path: Path, detector: Detector) -> None:
    source = VideoSource(write_video(tmp_path / "clip.avi", frames=12, fps=100.0))
    results: list[LiveResult] = []
    finished = threading.Event()
    pipeline = LivePipeline(source, detector, results.append, on_finished=finished.set)
    pipeline.start()
    assert finished.wait(60) and pipeline.wait(5)
    assert 0 < len(results) <= 12 and results[-1].stats.processed == len(results)
    assert results[-1].frame.index <= 11 and not pipeline.running
    assert source.read() is None  # closed by the pipeline


def test_stop_ends_both_threads_quickly(shared_data: Path, detector: Detector) -> None:
    pipeline = LivePipeline(VideoSource(shared_data / "video" / "vtest.avi"), detector, lambda r: None).start()
    time.sleep(0.5)
    start = time.monotonic()
    pipeline.stop()
    assert not pipeline.running and time.monotonic() - start < 5


def test_inference_error_is_reported_and_stops_the_pipeline(tmp_path: Path) -> None:
    class Broken:
        def predict(self, image: np.ndarray) -> Detections:
            raise RuntimeError("out of memory")

    errors: list[BaseException] = []
    source = VideoSource(write_video(tmp_path / "clip.avi", frames=50))
    pipeline = LivePipeline(source, Broken(), lambda r: None, on_error=errors.append).start()  # type: ignore[arg-type]
    assert pipeline.wait(10)
    assert len(errors) == 1 and "out of memory" in str(errors[0])
