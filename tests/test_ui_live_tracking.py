"""Live overlays at the capture rate, in the real window: a generated video of moving shapes plays; the boxes
on frames where no detection arrived follow their objects, carry track ids, and the status bar shows the
capture rate, the detector's rate and the overlay's lag.

The detections are a stand-in: the ground truth of the frame the worker took, plus noise and 10% dropped
boxes (``tests/synthetic_tracks.noisy_detections``), each answer taking 0.5 s (a 2 fps detector). They go
through the live view's own code path: the window's loaded Detector object (its name, device) wrapped so
that ``predict`` answers them, called by the view's DetectionWorker on the frames its LatestSlot hands
over, under its predict lock. What is under test is the overlay, not the detector: a random-weights
RetinaNet finds nothing worth following (and took 9-14 s a frame on the shared 2-core machine), and a
trained one would make the ground truth inexact.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QLabel, QWidget

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.live_status import FOLLOW_KEY, LiveStatus, rates_text
from detector_app.ui.live_view import LiveController
from detector_app.ui.main_window import MainWindow

from .synthetic_tracks import (
    make_track_sequence,
    matched_iou,
    noisy_detections,
    video_backgrounds,
)
from .ui_helpers import make_settings

pytestmark = pytest.mark.gui

FPS = 25.0
FRAMES = 250
DETECTOR_S = 0.5
RATES = re.compile(r"^capture (\d+\.\d) fps · detector (\d+\.\d) fps · overlay lag (\d+\.\d\d) s$")
VTEST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video" / "vtest.avi"


def _thumb(image: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (40, 30), interpolation=cv2.INTER_AREA).astype(np.float32)


class TruthDetector:
    """The window's Detector, answering with the noisy ground truth of the frame it was given (found by its
    thumbnail among the decoded video's frames) after ``DETECTOR_S``."""

    def __init__(self, real: Detector, thumbs: np.ndarray, answers: list[Detections]) -> None:
        self.real, self.thumbs, self.answers = real, thumbs, answers
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> object:  # name, device, precision... of the real one
        return getattr(self.real, name)

    def predict(self, image: np.ndarray) -> Detections:
        start = time.monotonic()
        index = int(np.argmin(np.abs(self.thumbs - _thumb(image)).mean(axis=(1, 2))))
        self.calls.append(index)
        time.sleep(max(0.0, DETECTOR_S - (time.monotonic() - start)))
        return self.answers[index]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory):
    """The video file (MJPG), its ground truth and the detector's noisy answers, per decoded frame."""
    backgrounds = (video_backgrounds(VTEST, FRAMES, start=40) if VTEST.is_file()
                   else [np.full((240, 320, 3), 110, np.uint8)] * FRAMES)  # real footage when the data is there
    seq = make_track_sequence(backgrounds, objects=5, seed=3, fps=FPS)
    path = tmp_path_factory.mktemp("clip") / "shapes.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
    for frame in seq.frames:
        writer.write(frame)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    thumbs = []
    while (ok_image := cap.read())[0]:
        thumbs.append(_thumb(ok_image[1]))
    cap.release()
    assert len(thumbs) == FRAMES
    answers = noisy_detections(seq, seed=3, drop=0.1, false_positives=0.0)
    return path, seq, np.stack(thumbs), answers


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path, clip):
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)  # the untrained preset (make_settings)
    win.set_detector(TruthDetector(win.detector, clip[2], clip[3]))
    win.threshold_slider.setValue(30)
    yield win
    win.close()


def _record(win: MainWindow) -> dict[int, dict]:
    """What the canvas showed when each frame first appeared: its boxes, and the newest result's boxes."""
    seen: dict[int, dict] = {}

    def on_shown(specs: list) -> None:
        live = win.live
        if live.frame is None or live.frame.index in seen:
            return
        last = live.visible_detections()
        seen[live.frame.index] = {
            "follow": live.follow,
            "boxes": np.array([[x, y, x + w, y + h] for x, y, w, h in (s.bbox for s in specs)], np.float32).reshape(-1, 4),
            "ids": [s.track_id for s in specs],
            "last": (last.boxes.astype(np.float32) if last is not None else np.zeros((0, 4), np.float32)),
            "result_frame": live.result.frame.index if live.result is not None else None,
            "tags": [item.tag_text for item in win.canvas.box_items()],
        }

    win.live.boxes_shown.connect(on_shown)
    return seen


@pytest.mark.slow  # 10 s of video after a window and a model load: about 30 s, more on a loaded machine
def test_boxes_follow_objects_between_detections_and_the_toggle_brings_back_the_old_view(
        window: MainWindow, qtbot, clip) -> None:
    win, (path, seq, _, _) = window, clip
    assert win.sources.act_follow.isChecked()  # default on
    view = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert win.sources.act_follow in view.actions()
    seen = _record(win)
    win.start_source(str(path))
    qtbot.waitUntil(lambda: win.live.frame is not None and win.live.frame.index >= 140, timeout=60_000)

    # Status bar: the three figures, refreshed about twice a second (not on every frame or result).
    texts, start = [win.status_rates.text()], time.monotonic()
    while time.monotonic() - start < 2.0:
        qtbot.wait(10)
        if win.status_rates.text() != texts[-1]:
            texts.append(win.status_rates.text())
    changes_per_s = (len(texts) - 1) / (time.monotonic() - start)
    match = RATES.match(texts[-1])
    assert match, texts[-1]
    capture, detector, lag = (float(v) for v in match.groups())
    assert 0.8 * FPS <= capture <= 1.2 * FPS, texts[-1]
    assert 1.0 <= detector <= 2.5, texts[-1]
    assert 0.0 < lag < 2.0, texts[-1]
    assert changes_per_s <= 2.6, texts
    display_fps = win.live.display_meter.rate
    costs, ui_ms = win.live.overlay.cost_ms(), sorted(win.live.frame_ms)

    win.sources.act_follow.trigger()  # off: the last detection where it was found, no ids
    assert win.settings.value(FOLLOW_KEY, type=bool) is False
    qtbot.waitUntil(lambda: win.live.at_end, timeout=30_000)
    win.live.stop()

    followed = {k: v for k, v in seen.items() if v["follow"] and v["result_frame"] is not None and k != v["result_frame"]}
    assert len(followed) >= 80, len(followed)
    overlay_iou = np.concatenate([matched_iou(seq.boxes[k], v["boxes"]) for k, v in followed.items()]).mean()
    last_iou = np.concatenate([matched_iou(seq.boxes[k], v["last"]) for k, v in followed.items()]).mean()
    print(f"mean IoU with the truth on {len(followed)} frames without a detection: overlay {overlay_iou:.3f}, "
          f"last detection {last_iou:.3f}; display {display_fps:.1f} fps (source {FPS:.0f}), capture {capture}, "
          f"detector {detector}; overlay ms {costs}; UI ms per frame median {ui_ms[len(ui_ms) // 2]:.1f} "
          f"p95 {ui_ms[int(0.95 * (len(ui_ms) - 1))]:.1f}; status changes {changes_per_s:.1f}/s")
    assert overlay_iou > last_iou + 0.3 and overlay_iou > 0.5, (overlay_iou, last_iou)  # 0.59-0.65 vs 0.04-0.07 seen
    # The work per frame, in CPU time: the overlay on the player thread and showing the frame on the UI thread
    # each stay under half a frame period, so the display can keep the source's rate.
    assert costs["frame_p95"] < 1000 / FPS / 2, costs
    assert ui_ms[len(ui_ms) // 2] < 1000 / FPS / 2, ui_ms
    # And it does, unless other processes hold the CPU (a frame the UI had no CPU for is replaced by the next,
    # latest frame wins): the suite runs tests in parallel on 2 cores, where load averages of 10 were seen.
    loaded = os.getloadavg()[0] > (os.cpu_count() or 1)
    assert display_fps >= (0.3 if loaded else 0.8) * FPS, (display_fps, os.getloadavg())

    # Boxes move between two results: a track's box differs on consecutive frames under the same result.
    moved = 0
    for k, v in followed.items():
        nxt = followed.get(k + 1)
        if nxt is None or nxt["result_frame"] != v["result_frame"]:
            continue
        for tid, box in zip(v["ids"], v["boxes"], strict=True):
            if tid in nxt["ids"] and np.abs(nxt["boxes"][nxt["ids"].index(tid)] - box).max() > 0.5:
                moved += 1
    assert moved >= 50, moved
    assert all(re.match(r"^#\d+ \w+ \d\.\d\d$", tag) for v in followed.values() for tag in v["tags"])
    assert any(v["tags"] for v in followed.values())

    # Off: every frame shows exactly the newest result's boxes, with no track id.
    held = [v for v in seen.values() if not v["follow"] and v["result_frame"] is not None]
    assert len(held) >= 20, len(held)
    for v in held:
        assert v["ids"] == [None] * len(v["boxes"]) and not any(t.startswith("#") for t in v["tags"])
        np.testing.assert_allclose(np.sort(v["boxes"], axis=0), np.sort(v["last"], axis=0), atol=1e-3)


def test_follow_toggle_is_remembered_and_the_rates_text_reads_well(qtbot, tmp_path: Path) -> None:
    """The toggle on a live view with real widgets (the window's View menu holds it: the test above)."""
    settings, host = make_settings(tmp_path), QWidget()
    qtbot.addWidget(host)
    live = LiveController(AnnotationCanvas(host), lambda: 0.5, lambda: None)
    status = LiveStatus(host, settings, live, QLabel(host))
    assert status.act_follow.isChecked() and live.follow  # default on
    status.act_follow.trigger()
    assert not live.follow and settings.value(FOLLOW_KEY, type=bool) is False
    again = LiveController(AnnotationCanvas(host), lambda: 0.5, lambda: None)
    assert not LiveStatus(host, settings, again, QLabel(host)).act_follow.isChecked() and not again.follow
    assert rates_text(29.97, 1.94, 0.532) == "capture 30.0 fps · detector 1.9 fps · overlay lag 0.53 s"
    assert RATES.match(rates_text(25.0, 2.0, 0.5))
    assert rates_text(25.0, None, None) == "capture 25.0 fps · detector off · overlay lag –"
