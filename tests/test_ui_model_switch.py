"""Activating a trained model version switches the running detector without a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector_app.detection.weights import load_model
from detector_app.storage.project import Project
from detector_app.training.versions import register_version
from detector_app.ui.main_window import MainWindow

from .ui_helpers import make_settings

pytestmark = pytest.mark.gui


def test_activating_a_version_changes_status_bar_and_next_detection(qtbot, tmp_path: Path, project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        loaded = load_model("retinanet_light", class_names=["circle", "square"], weights="none", seed=1)
        version = register_version(project, loaded.model, preset="retinanet_light",
                                   class_names=loaded.class_names, parent_id=None, settings={}, metrics={},
                                   name="shapes-v1")
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    before = win.detector
    assert "shapes-v1" not in win.status_model.text()

    win.activate_version(version.id)
    qtbot.waitUntil(lambda: win.detector is not before, timeout=60_000)

    assert "shapes-v1" in win.status_model.text()
    assert win.project.repo.active_model_version().id == version.id
    detections = win.detector.predict(np.zeros((128, 160, 3), np.uint8))
    assert detections.class_names == ("__background__", "circle", "square")
    win.close()

    # Remembered: a new window starts with the activated version.
    again = MainWindow(win.settings, project_path=project_dir)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.detector is not None, timeout=60_000)
    assert "shapes-v1" in again.status_model.text()
    again.close()


def test_int8_toggle_switches_the_detector_and_is_remembered(qtbot, tmp_path: Path, project_dir: Path) -> None:
    from detector_app.detection.int8 import CALIBRATION_FRAMES, int8_unavailable_reason

    if int8_unavailable_reason() is not None:
        pytest.skip(int8_unavailable_reason())
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    if win.detector.device.type != "cpu":
        pytest.skip("int8 runs on the CPU only")
    assert not win.act_int8.isChecked() and "int8" not in win.status_device.text()

    win.act_int8.trigger()
    assert win.detector.config.int8
    assert win.status_device.text() == f"CPU · calibrating int8 (0/{CALIBRATION_FRAMES})"
    win.close()

    again = MainWindow(win.settings, project_path=project_dir)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.detector is not None, timeout=60_000)
    assert again.act_int8.isChecked() and again.detector.config.int8
    again.act_int8.trigger()
    assert not again.detector.config.int8 and again.status_device.text() == f"CPU · {again.detector.precision}"
    again.close()
