"""Propagate in the window, with a real detector (RetinaNet with random weights) and the tracker: it runs on a
superqt worker with progress, its proposals are stored as boxes to review (dashed on the frame, hollow on the
timeline), A and R review them, Cancel stores nothing, and undo takes a whole run back; checked against the
database."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detector_app.core.detections import Detections
from detector_app.core.labels import Origin, Status
from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import load_model
from detector_app.review.video_edits import MODEL_TRACK
from detector_app.ui.main_window import MainWindow

from .helpers_detection import write_video
from .ui_helpers import make_settings

pytestmark = pytest.mark.gui


class ThreadRecorder:
    """The window's detector, recording the threads it was called on."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.threads = detector, []

    def predict(self, frame: np.ndarray) -> Detections:
        self.threads.append(threading.current_thread())
        return self.detector.predict(frame)


@pytest.fixture(scope="module")
def light_detector() -> Detector:
    loaded = load_model("retinanet_light", class_names=["__background__", "car", "sign"], weights="none", seed=0)
    loaded.model.head.classification_head.cls_logits.bias.data.fill_(1.0)  # scores near 0.74: tracks start
    return Detector(loaded, DetectorConfig(size=320, score_threshold=0.0, max_detections=5))


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, project_dir: Path, light_detector: Detector) -> MainWindow:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)
    win.model.detector = ThreadRecorder(light_detector)  # type: ignore[assignment]
    win.threshold_slider.setValue(5)  # proposals from a score of 0.05
    win.project.repo.ensure_category("car")
    win.video.open_video(write_video(tmp_path / "clip.avi", frames=12))
    return win


def proposals(win: MainWindow) -> list[tuple[int, int, str, float]]:
    return [(b.frame, b.track_id, b.status, b.score) for b in win.video.tasks.store.stored_boxes(win.video.video.id)
            if b.origin == Origin.MODEL]


def test_propagate_proposes_boxes_to_review_and_undoes(window: MainWindow, qtbot: Any) -> None:
    win = window
    video = win.video.video
    kept = win.video.tasks.new_track(video.id, 0, "car", (5, 30, 40, 50))  # a person's keyframe at 0
    win.video.refresh()
    progress: list[int] = []
    run = win.video.propagate(4)
    run.progress.connect(progress.append)
    qtbot.waitUntil(lambda: win.video.propagation is None, timeout=60_000)
    assert progress[-1] == 4 and run.dialog.maximum() == 4
    assert {t.name for t in win.detector.threads} != {threading.main_thread().name}  # off the UI thread
    found = proposals(win)
    assert found and {f for f, *_ in found} <= {1, 2, 3, 4}
    assert all(status == Status.PREDICTED and score >= 0.05 for _, _, status, score in found)
    stored = win.video.tasks.store.stored_boxes(video.id)
    assert [(b.frame, b.bbox, b.keyframe) for b in stored if b.origin == Origin.HUMAN] == [(0, (5, 30, 40, 50), True)]
    timeline = {(line.track.id, f) for line in win.timeline.lines for f in line.proposals}
    assert timeline == {(t, f) for f, t, *_ in found}  # each proposal is on its track's lane
    new_tracks = {t for _, t, *_ in found} - {kept.tracks_after[0].id}
    assert all(win.video.tasks.store.get_track(t).created_by == MODEL_TRACK for t in new_tracks)
    assert "boxes proposed" in win.banner.text

    # review two proposals on the frame: A accepts, R rejects
    frame, track, *_ = found[0]
    win.video.go_to(frame)
    assert [i.spec.status for i in win.canvas.box_items() if i.spec.key == track] == [Status.PREDICTED]
    win.canvas.select(track)
    win.activateWindow()  # the progress dialog had the focus
    qtbot.waitUntil(win.isActiveWindow)
    QTest.keyClick(win.canvas.viewport(), Qt.Key.Key_A)
    assert (frame, track, Status.ACCEPTED) in [(f, t, s) for f, t, s, _ in proposals(win)]
    other = next(((f, t) for f, t, *_ in found if f == frame and t != track), None)
    if other is not None:
        win.canvas.select(other[1])
        QTest.keyClick(win.canvas.viewport(), Qt.Key.Key_R)
        assert (*other, Status.REJECTED) in [(f, t, s) for f, t, s, _ in proposals(win)]
        win.undo_stack.undo()
    win.undo_stack.undo()  # the accept
    win.undo_stack.undo()  # the whole propagate
    assert proposals(win) == [] and {t.id for t in win.video.tasks.store.tracks(video.id)} == {
        kept.tracks_after[0].id}
    win.undo_stack.redo()
    assert sorted(proposals(win)) == sorted(found)


def test_cancelled_propagate_stores_nothing(window: MainWindow, qtbot: Any) -> None:
    win = window
    before = win.video.tasks.store.stored_boxes(win.video.video.id)
    run = win.video.propagate(10)
    run.cancel()  # Cancel in the progress dialog: the worker stops at its next frame
    qtbot.waitUntil(lambda: win.video.propagation is None, timeout=60_000)
    assert win.video.tasks.store.stored_boxes(win.video.video.id) == before
    assert "cancelled" in win.banner.text and win.undo_stack.count() == 0
    assert len(win.detector.threads) <= 1 and win.video.actions.act_propagate.isEnabled()
