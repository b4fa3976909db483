"""The Train dialog on real widgets with a real training process: progress, plot, cancel, activate."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from detector_app.storage import Project
from detector_app.ui.train_dialog import TrainDialog

from .ui_helpers import make_settings

pytestmark = pytest.mark.gui

# The child process needs a few seconds to import torch; on a busy machine more.
START_TIMEOUT_MS = 120_000


def _prepare(dialog: TrainDialog, epochs: int) -> None:
    scratch = next(i for i in range(dialog.start_from.count()) if dialog.start_from.itemData(i).parent == "scratch")
    dialog.start_from.setCurrentIndex(scratch)
    dialog.epochs.setValue(epochs)
    dialog.size.setValue(64)
    dialog.extra_settings = {"threads": 1, "batch_size": 2}


def test_run_shows_progress_and_plot_and_cancel_stops_it_quickly(qtbot, shapes_project_dir: Path) -> None:
    dialog = TrainDialog(shapes_project_dir, "untrained test model")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.current_label.text() == "Current model: untrained test model"
    assert dialog.checked_classes() and set(dialog.checked_classes()) <= {"circle", "square", "triangle"}
    _prepare(dialog, epochs=200)

    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 3 and dialog.plot.has_data, timeout=START_TIMEOUT_MS)
    assert dialog.progress.maximum() == 200 * 5  # 9 training images in batches of 2
    assert "step" in dialog.status.text() and "images/s" in dialog.status.text()
    assert len(dialog.plot.step_losses) >= 3

    started = time.monotonic()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.result is not None or dialog.error.isVisible(), timeout=30_000)
    assert time.monotonic() - started < 10.0
    assert dialog.result is not None and dialog.result.status == "cancelled"
    assert dialog.status.text().startswith("Cancelled after")
    assert dialog.start_button.isEnabled() and not dialog.activate_button.isEnabled()
    with Project.open(shapes_project_dir, create=False) as project:
        assert [r.status for r in project.repo.training_runs()] == ["cancelled"]
    qtbot.waitUntil(lambda: not dialog.runner.running, timeout=10_000)


def test_finished_run_shows_before_after_and_activate_switches_the_main_window(
        qtbot, tmp_path: Path, shapes_project_dir: Path) -> None:
    from detector_app.ui.main_window import MainWindow

    window = MainWindow(make_settings(tmp_path), project_path=shapes_project_dir)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.detector is not None, timeout=60_000)
    before_name = window.detector.name
    window.open_train_dialog()
    dialog: TrainDialog = window.train_dialog
    _prepare(dialog, epochs=1)

    dialog.class_list.item_named("triangle").setCheckState(Qt.CheckState.Unchecked)
    finished: list[object] = []
    dialog.run_finished.connect(finished.append)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(finished) or dialog.error.isVisible(), timeout=START_TIMEOUT_MS)
    assert not dialog.error.isVisible(), dialog.error.text()
    result = finished[0]
    assert result.status == "finished" and result.version_id is not None
    metrics = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert metrics[:2] == ["mAP@[.5:.95]", "AP50"] and any(m.startswith("AP50 ") for m in metrics)
    assert dialog.table.item(0, 1).text() == "-"  # from scratch: no "before"
    assert dialog.activate_button.isEnabled()
    assert len(dialog.plot.epoch_losses) == 1

    with qtbot.waitSignal(dialog.version_activated, timeout=5_000) as activated:
        qtbot.mouseClick(dialog.activate_button, Qt.MouseButton.LeftButton)
    assert activated.args == [result.version_id]
    qtbot.waitUntil(lambda: window.detector is not None and window.detector.name != before_name, timeout=60_000)
    assert window.detector.name == "v1 (retinanet_light_gn)"  # the default preset of a new model
    assert window.status_model.text() == "model: v1 (retinanet_light_gn)"
    assert dialog.current_label.text() == "Current model: v1 (retinanet_light_gn)"  # not the model before
    assert "triangle" not in dialog.checked_classes()  # the user's ticks survive the run's reload
    with Project.open(shapes_project_dir, create=False) as project:
        version = project.repo.active_model_version()
        assert version is not None and version.id == result.version_id
    assert window.detector.class_names == ("__background__", *version.class_names)
    window.detector.predict(np.zeros((64, 64, 3), np.uint8))  # the next detection runs the new version
    dialog.close()
    window.close()


def _choose(dialog: TrainDialog, parent: object) -> None:
    dialog.start_from.setCurrentIndex(next(i for i in range(dialog.start_from.count())
                                           if dialog.start_from.itemData(i).parent == parent))


def test_defaults_work_classes_with_examples_are_ticked_and_choices_are_remembered(
        qtbot, tmp_path: Path, shapes_project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import QSettings

    from detector_app.training import choices

    with Project.open(shapes_project_dir, create=False) as project:
        project.repo.ensure_category("zebra")  # a class without a single box
    monkeypatch.setattr(choices, "coco_weights_present", lambda preset: False)  # offline, nothing downloaded
    settings = QSettings(str(tmp_path / "train.ini"), QSettings.Format.IniFormat)
    dialog = TrainDialog(shapes_project_dir, "untrained test model", settings=settings)
    qtbot.addWidget(dialog)
    dialog.show()

    # The default start point works here: not COCO weights that are missing (they are marked as such).
    assert dialog.start_from.currentData().parent == "scratch"
    labels = [dialog.start_from.itemText(i) for i in range(dialog.start_from.count())]
    assert all("not downloaded" in label for label in labels if "COCO" in label)
    assert dialog.size.value() == 512 and "512 px" in dialog.start_note.text()
    # The schedule is shown before the run starts: 9 training images, epochs chosen from that (issue 18).
    schedule = dialog.schedule.text()
    assert dialog.epochs.text() == "auto (from the set size)"
    assert schedule.startswith("40 epochs (chosen from the set size), 120 steps of 4 images; warm-up 30 steps")
    for part in ("scale jitter", "Anchors 32-406 px (torchvision's)", "best validation mAP"):
        assert part in schedule, part

    # Classes with training examples are ticked, with their counts; a class without any cannot be.
    assert set(dialog.checked_classes()) == {"circle", "square", "triangle"}
    zebra = dialog.class_list.item_named("zebra")
    assert zebra.text() == "zebra  (no training examples)" and not zebra.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "boxes," in dialog.class_list.item_named("circle").text()
    assert dialog.classes.minimumHeight() >= 200
    qtbot.keyClicks(dialog.class_list.filter, "squ")
    assert [dialog.classes.item(i).data(Qt.ItemDataRole.UserRole) for i in range(dialog.classes.count())
            if not dialog.classes.item(i).isHidden()] == ["square"]
    dialog.class_list.filter.clear()
    dialog.class_list.item_named("circle").setCheckState(Qt.CheckState.Unchecked)  # the user unticks one

    # The user's input size stays when the start point changes; the note says what that one would use.
    dialog.size.lineEdit().selectAll()
    qtbot.keyClicks(dialog.size.lineEdit(), "320")
    qtbot.keyClick(dialog.size.lineEdit(), Qt.Key.Key_Return)
    assert dialog.size.value() == 320
    _choose(dialog, "retinanet_r50_fpn")
    assert dialog.size.value() == 320
    assert "kept at your 320 px" in dialog.start_note.text() and "800 px" in dialog.start_note.text()
    assert "not on this computer" in dialog.start_note.text()
    _choose(dialog, "scratch")
    dialog.epochs.setValue(7)
    dialog.minutes.setValue(5)
    assert dialog.schedule.text().startswith("7 epochs, 21 steps") and "At most 5 min" in dialog.schedule.text()

    # After a run the project is reloaded: the ticks stay as the user left them.
    dialog.reload_project()
    assert set(dialog.checked_classes()) == {"square", "triangle"}
    assert dialog.start_from.currentData().parent == "scratch" and dialog.size.value() == 320
    dialog.close()
    assert settings.value("train/unticked") in ("circle", ["circle"]) and int(settings.value("train/size")) == 320

    # Remembered for the next dialog (and the next session).
    again = TrainDialog(shapes_project_dir, None, settings=settings)
    qtbot.addWidget(again)
    assert again.start_from.currentData().parent == "scratch"
    assert again.size.value() == 320 and again.epochs.value() == 7
    assert set(again.checked_classes()) == {"square", "triangle"}
    again.close()


def test_coco_weights_on_disk_are_the_default_start_and_a_network_failure_reads_as_one(
        qtbot, shapes_project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detector_app.training import choices
    from detector_app.training.events import RunFailed

    monkeypatch.setattr(choices, "coco_weights_present", lambda preset: preset == "retinanet_r50_fpn_v2")
    dialog = TrainDialog(shapes_project_dir, None)
    qtbot.addWidget(dialog)
    assert dialog.start_from.currentData().parent == "retinanet_r50_fpn_v2"
    assert dialog.size.value() == 800
    dialog.handle_event(RunFailed(
        "pretrained weights for retinanet_r50_fpn are not available (download failed: no connection to the "
        "download server: Temporary failure in name resolution): put retinanet_resnet50_fpn_coco-eeacb38b.pth "
        "in /models"))
    text = dialog.error.text()
    assert "urlopen" not in text and "Errno" not in text
    assert "no connection to the download server: Temporary failure in name resolution" in text
    dialog.close()
