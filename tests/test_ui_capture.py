"""Capture (Space) through the real window: a new image gets the shown boxes to review once; an image the
project already holds with boxes, or reviewed, keeps its boxes and review state, so a "reviewed" export keeps it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import load_model
from detector_app.transfer.exporting import export_labels
from detector_app.ui.main_window import MainWindow

from .ui_helpers import make_settings, write_image

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def light_detector() -> Detector:
    loaded = load_model("retinanet_light", class_names=["__background__", "ball", "box"], weights="none", seed=0)
    loaded.model.head.classification_head.cls_logits.bias.data.fill_(-1.0)  # random scores near 0.27, in view
    return Detector(loaded, DetectorConfig(size=320, score_threshold=0.0, max_detections=20))


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, project_dir: Path, light_detector: Detector) -> MainWindow:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)
    win.set_detector(light_detector)
    win.threshold_slider.setValue(5)
    return win


def show_and_capture(win: MainWindow, qtbot: Any, image: Path) -> int:
    """Open ``image`` as the live source, wait for its boxes, press Capture; the number of boxes shown."""
    win.start_source(str(image))
    qtbot.waitUntil(lambda: win.live.result is not None and win.live.result.frame.origin == str(image),
                    timeout=60_000)
    shown = len(win.live.visible_detections())
    win.sources.act_capture.trigger()  # Space
    return shown


def test_capture_keeps_a_reviewed_image_and_adds_boxes_to_a_new_one_once(
        window: MainWindow, qtbot: Any, tmp_path: Path) -> None:
    win, repo = window, window.project.repo
    labelled = write_image(tmp_path / "pics" / "labelled.jpg", seed=1)
    image = repo.add_image(labelled)
    drawn = repo.add_annotation(image.id, "ball", (100, 100, 200, 150))
    repo.mark_reviewed(image.id)
    before = (repo.annotations_for_image(image.id), repo.get_image(image.id).reviewed_at)

    assert show_and_capture(win, qtbot, labelled) > 0  # the model does propose boxes on it
    assert (repo.annotations_for_image(image.id), repo.get_image(image.id).reviewed_at) == before
    assert "already in the project" in win.banner.text and "kept as it is" in win.banner.text
    win.stop_source()
    exported = json.loads(export_labels(repo, "coco", tmp_path / "reviewed").read_text())  # scope "reviewed"
    assert [a["id"] for a in exported["annotations"]] == [drawn.id]

    fresh = write_image(tmp_path / "pics" / "fresh.jpg", seed=2)
    shown = show_and_capture(win, qtbot, fresh)
    new = repo.find_image(fresh)
    assert new is not None and not new.reviewed and shown > 0
    boxes = repo.annotations_for_image(new.id)
    assert len(boxes) == shown and {b.status for b in boxes} == {"predicted"}
    assert f"with {shown} boxes to review" in win.banner.text
    win.sources.act_capture.trigger()  # again: no second copy of the predictions
    assert repo.annotations_for_image(new.id) == boxes and "already in the project" in win.banner.text
    win.stop_source()
    assert repo.count_images() == 2
