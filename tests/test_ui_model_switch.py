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
