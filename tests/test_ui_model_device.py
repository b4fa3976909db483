"""Model › Device and untrained weights through the real window (issue 12): only devices that exist are
offered, a failing one is shown, never remembered, and the model keeps running where it ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMenu

import detector_app.detection.detector as detector_module
import detector_app.detection.devices as devices
from detector_app.detection.weights import load_model
from detector_app.errors import DetectorAppError
from detector_app.storage.project import Project
from detector_app.training.versions import activate_version, register_version
from detector_app.ui.main_window import MainWindow

from .ui_helpers import make_settings

pytestmark = pytest.mark.gui


def _menu(win: MainWindow, *titles: str) -> QMenu:
    menu = next(a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == titles[0])
    for title in titles[1:]:
        menu = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text() == title)
    return menu


def _device_choices(win: MainWindow) -> list[str]:
    menu = _menu(win, "Model", "Device")
    menu.aboutToShow.emit()
    return [a.text() for a in menu.actions() if a.isVisible()]


def test_device_menu_offers_what_exists_and_a_failing_device_is_shown_and_not_kept(
        qtbot, tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    import torch

    expected = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    assert _device_choices(win) == expected + (["mps"] if devices._mps_available() else [])

    # A device torch lists but that fails when the model moves there (a broken driver, say).
    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu", "cuda"])
    real = detector_module.resolve_device

    def failing(name: str) -> torch.device:
        if name.startswith("cuda"):
            raise DetectorAppError("CUDA driver failed to initialise (simulated)")
        return real(name)

    monkeypatch.setattr(detector_module, "resolve_device", failing)
    win.model.show_available_devices()
    assert "cuda" in _device_choices(win)
    before = win.detector
    cuda = next(a for a in _menu(win, "Model", "Device").actions() if a.text() == "cuda")
    cuda.trigger()  # as a click in the menu does
    assert "Cannot run the model on cuda: CUDA driver failed to initialise (simulated)" in win.banner.text
    assert win.model.device_group.checkedAction().text() == "auto"  # the menu goes back to what runs
    assert str(win.settings.value("model/device")) == "auto"  # never remembered
    assert win.detector is before and win.detector.device.type == "cpu"
    assert win.status_device.text().startswith("CPU")
    win.detector.predict(np.zeros((64, 64, 3), np.uint8))  # still detecting

    # Choosing cpu works, is remembered, and moves the running model.
    next(a for a in _menu(win, "Model", "Device").actions() if a.text() == "cpu").trigger()
    assert str(win.settings.value("model/device")) == "cpu" and win.detector.config.device == "cpu"
    win.close()


def test_a_remembered_device_that_is_missing_falls_back_and_a_model_loads(
        qtbot, tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "available_devices", lambda: ["cpu"])
    real = detector_module.resolve_device

    def no_cuda(name: str) -> object:
        if name.startswith("cuda"):
            raise DetectorAppError(f"device {name!r} requested but CUDA is not available on this computer")
        return real(name)

    monkeypatch.setattr(detector_module, "resolve_device", no_cuda)  # also on a computer that has one
    settings = make_settings(tmp_path, model__device="cuda")  # saved by an older version on a GPU machine
    win = MainWindow(settings, project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None, timeout=90_000)
    assert win.status_model.text() != "model: none"
    assert str(settings.value("model/device")) == "auto"
    assert win.model.device_group.checkedAction().text() == "auto"
    assert "cuda" not in _device_choices(win)
    win.close()


def test_use_untrained_weights_is_ticked_only_while_they_run(qtbot, tmp_path: Path, project_dir: Path) -> None:
    with Project.open(project_dir) as project:
        loaded = load_model("retinanet_light", class_names=["circle", "square"], weights="none", seed=1)
        version = register_version(project, loaded.model, preset="retinanet_light",
                                   class_names=loaded.class_names, parent_id=None, settings={}, metrics={},
                                   name="shapes-v1")
        activate_version(project, version.id)
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)  # the settings say untrained
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    untrained = win.model.act_untrained
    assert untrained.isChecked() and "random weights" in win.detector.name
    assert "random weights do not find objects" in win.banner.text

    versions = _menu(win, "Model", "Project model versions")
    versions.aboutToShow.emit()
    next(a for a in versions.actions() if a.text().startswith("shapes-v1")).trigger()
    qtbot.waitUntil(lambda: "shapes-v1" in win.status_model.text(), timeout=60_000)
    assert not untrained.isChecked()  # a version runs, not untrained weights
    assert int(win.settings.value("model/version")) == version.id
    assert "random weights" not in win.banner.text

    untrained.trigger()  # back to untrained weights: they replace the version
    qtbot.waitUntil(lambda: "random weights" in (win.detector.name if win.detector else ""), timeout=60_000)
    assert untrained.isChecked() and win.settings.value("model/version") is None
    assert win.settings.value("model/weights") == "none"
    win.close()
