"""Detect all… through the real window: it asks what to run on (counts, a time estimate from the measured
speed), stores only the frames wanted, leaves labelled images alone and ends in a summary that stays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QPushButton

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import load_model
from detector_app.plugins_api.sources import open_any_source
from detector_app.ui.detect_all_dialog import FPS_KEY
from detector_app.ui.main_window import MainWindow

from .ui_helpers import make_settings, write_image

pytestmark = pytest.mark.gui

FRAMES = 8


@pytest.fixture(scope="module")
def contrast_detector() -> Detector:
    """Random weights whose scores follow the image: plain frames score below 0.5, noisy ones above."""
    loaded = load_model("retinanet_light", class_names=["__background__", "ball", "box"], weights="none", seed=0)
    head = loaded.model.head.classification_head.cls_logits
    head.bias.data.fill_(-1.0)
    head.weight.data *= 20
    return Detector(loaded, DetectorConfig(size=320, score_threshold=0.0, max_detections=20))


def threshold_between(scores: list[float]) -> int:
    """A slider value (hundredths) in the widest gap between the frames' best scores, clear of both sides."""
    _gap, low, high = max((b - a, a, b) for a, b in zip(scores, scores[1:], strict=False))
    value = round((low + high) * 50)
    assert low + 0.003 < value / 100 < high - 0.003, scores
    return value


def make_video(path: Path, frames: int = FRAMES) -> Path:
    """Plain grey frames alternating with noisy ones, a red ball on each."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 240))
    for i in range(frames):
        image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) if i % 2 else np.full((240, 320, 3), 60, np.uint8)
        cv2.circle(image, (20 + 12 * i, 120), 25, (0, 0, 255), -1)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, project_dir: Path, contrast_detector: Detector) -> MainWindow:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)
    win.set_detector(contrast_detector)
    return win


def ask(win: MainWindow) -> Any:
    win.sources.act_batch.trigger()  # Detect all… (Ctrl+B)
    dialog = win.sources.detect_all.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def finish(win: MainWindow, qtbot: Any, dialog: Any) -> Any:
    dialog.start_button.click()
    assert win.batch is not None
    qtbot.waitUntil(lambda: win.batch is None, timeout=120_000)
    return win.sources.detect_all.last_run


def test_detect_all_on_a_video_asks_first_and_stores_only_frames_with_detections(
        window: MainWindow, qtbot: Any, tmp_path: Path, contrast_detector: Detector) -> None:
    win, repo = window, window.project.repo
    video = make_video(tmp_path / "clip.avi")
    with open_any_source(str(video)) as source:  # each frame's best score, worked out independently
        best = {f.index: max((float(s) for s in contrast_detector.predict(f.image).without_background().scores),
                             default=0.0) for f in source}
    slider = threshold_between(sorted(best.values()))
    expected = {i for i, score in best.items() if score >= slider / 100}
    assert 0 < len(expected) < FRAMES
    win.start_source(str(video))
    qtbot.waitUntil(lambda: win.sources.detect_all.measured_fps() is not None, timeout=60_000)  # for the estimate
    win.stop_source()  # spare the CPU: the estimate keeps the measured rate
    win.threshold_slider.setValue(slider)

    dialog = ask(win)
    assert repo.count_images() == 0  # nothing starts before Start
    video_choice, project_choice = dialog.radios["video"], dialog.radios["project"]
    assert video_choice.isChecked() and f"clip.avi ({FRAMES} frames)" in video_choice.text()
    assert not project_choice.isEnabled() and "none waiting" in project_choice.text()
    assert dialog.only_detections.isChecked()  # the default for a video
    assert f"{FRAMES} frames, about" in dialog.estimate.text() and "frames/s measured" in dialog.estimate.text()
    run = finish(win, qtbot, dialog)

    frames = repo.list_images(limit=100)
    assert {i.frame_index for i in frames} == expected
    for image in frames:
        boxes = repo.annotations_for_image(image.id)
        assert boxes and all(b.status == "predicted" and b.score >= slider / 100 for b in boxes)
        assert not image.reviewed
    summary = run.dialog.labelText()
    assert f"{len(expected)} stored" in summary and f"{FRAMES - len(expected)} without detections not stored" in summary
    qtbot.wait(300)
    assert run.dialog.isVisible() and summary.startswith("Finished")  # stays until dismissed
    assert "Finished" in win.banner.text and float(win.settings.value(FPS_KEY)) > 0
    close = run.dialog.findChild(QPushButton)
    assert close.text() == "Close"
    close.click()
    assert not run.dialog.isVisible()

    # Again, after a person reviewed one frame: stored frames keep their boxes and state, none is duplicated.
    first = frames[0]
    for box in repo.annotations_for_image(first.id):
        repo.set_status(box.id, "accepted")
    assert repo.get_image(first.id).reviewed
    boxes_before = repo.count_annotations()
    run = finish(win, qtbot, ask(win))
    assert repo.count_annotations() == boxes_before and repo.get_image(first.id).reviewed
    assert f"{len(expected)} already labelled or reviewed, kept as they were" in run.dialog.labelText()


def test_detect_all_on_the_projects_waiting_images(window: MainWindow, qtbot: Any, tmp_path: Path) -> None:
    win, repo = window, window.project.repo
    waiting = [repo.add_image(write_image(tmp_path / "pics" / f"{i}.jpg", 320, 240, seed=i)).id for i in range(3)]
    done = repo.add_image(write_image(tmp_path / "pics" / "done.jpg", 320, 240, seed=9)).id
    repo.add_annotation(done, "ball", (10, 10, 40, 30))
    repo.mark_reviewed(done)
    done_before = (repo.annotations_for_image(done), repo.get_image(done).reviewed_at)
    win.threshold_slider.setValue(5)

    dialog = ask(win)  # nothing open: only the project's images are offered
    assert "video" not in dialog.radios and "folder" not in dialog.radios
    choice = dialog.radios["project"]
    assert choice.isChecked() and "(3 images)" in choice.text()
    assert not dialog.only_detections.isChecked()
    run = finish(win, qtbot, dialog)

    for image_id in waiting:
        boxes = repo.annotations_for_image(image_id)
        assert boxes and {b.status for b in boxes} == {"predicted"}
    assert (repo.annotations_for_image(done), repo.get_image(done).reviewed_at) == done_before
    assert repo.count_images() == 4 and "3 stored" in run.dialog.labelText()
    dialog = ask(win)  # now none is waiting
    assert not dialog.radios["project"].isEnabled() and not dialog.start_button.isEnabled()
    dialog.reject()


def test_detect_all_on_the_open_image_folder(window: MainWindow, qtbot: Any, tmp_path: Path) -> None:
    win, repo = window, window.project.repo
    folder = tmp_path / "queue"
    for i in range(3):
        write_image(folder / f"{i}.png", 320, 240, seed=i)
    win.start_source(str(folder))  # an image folder joins the project as a labelling queue
    qtbot.waitUntil(lambda: repo.count_images() == 3, timeout=30_000)
    win.threshold_slider.setValue(5)

    dialog = ask(win)
    choice = dialog.radios["folder"]
    assert choice.isChecked() and f"Image folder {folder} (3 images)" in choice.text()
    assert "(3 images)" in dialog.radios["project"].text()  # the same images, waiting for a model
    assert not dialog.only_detections.isChecked()  # every image of a folder is kept by default
    run = finish(win, qtbot, dialog)
    assert repo.count_images() == 3 and all(repo.annotations_for_image(i) for i in repo.image_ids())
    assert "3 stored" in run.dialog.labelText()
