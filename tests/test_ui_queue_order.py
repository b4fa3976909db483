"""The uncertainty queue in the real window (ui/queue_order.py): the "To review" list follows the uncertainty score
once a model version exists, the order choice is remembered, the "Next most useful image" shortcut (U, listed by
F1) jumps to the right image, and the empty states (no version, nothing left) say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.training.uncertainty import review_queue
from detector_app.ui.main_window import MainWindow
from detector_app.ui.queue_order import FILE, NEXT_KEY, NO_VERSION_TIP, NOTHING_LEFT, USEFUL
from detector_app.ui.shortcuts import shortcut_rows

from .ui_helpers import active_window, make_settings, write_image

pytestmark = pytest.mark.gui
NAMES = ("__background__", "cat", "dog")
# Scores -> the image's uncertainty score (threshold 0.5): a 0.95 -> 0.1; b 0.5 + 0.55 -> 1.0 + 0.9; c no box ->
# unseen 1.0; d 0.6 -> 0.8. Most useful first: b, c, d, a.
SCORES = {"a": [0.95], "b": [0.5, 0.55], "c": [], "d": [0.6]}


def _fill(project_dir: Path, with_version: bool) -> dict[str, int]:
    with Project.open(project_dir) as project:
        repo = project.repo
        version = repo.add_model_version("v1", "retinanet_light", ["cat", "dog"]).id if with_version else None
        ids = {}
        for n, (name, scores) in enumerate(SCORES.items()):
            ids[name] = repo.add_image(write_image(project_dir / "images" / f"{name}.jpg", seed=n)).id
            if scores:
                boxes = np.array([[50 + 150 * k, 50, 180 + 150 * k, 200] for k in range(len(scores))], np.float32)
                repo.add_predictions(ids[name], Detections(boxes, np.array(scores, np.float32),
                                                           np.ones(len(scores), np.int64), NAMES), version)
        return ids


def _window(qtbot, settings, project_dir: Path) -> MainWindow:
    return active_window(qtbot, settings, project_dir, size=None)


def _rows(win: MainWindow) -> list[int]:
    return [win.image_model.image_id(r) for r in range(win.image_model.rowCount())]


def test_to_review_list_follows_the_uncertainty_score_and_the_choice_is_remembered(qtbot, tmp_path: Path,
                                                                                  project_dir: Path) -> None:
    ids = _fill(project_dir, with_version=True)
    expected = [ids[n] for n in "bcda"]
    with Project.open(project_dir, create=False) as project:  # the same order as `detector-app queue`
        assert [e.image_id for e in review_queue(project.repo)] == expected
    settings = make_settings(tmp_path)
    win = _window(qtbot, settings, project_dir)
    assert win.queue_combo.currentData() == "unreviewed"
    assert win.order_combo.currentData() == USEFUL and win.order_combo.isEnabled()  # the default with a version
    qtbot.waitUntil(lambda: _rows(win) == expected, timeout=10000)  # re-sorted when the worker's ranking arrives

    win.order_combo.setCurrentIndex(win.order_combo.findData(FILE))
    assert _rows(win) == sorted(ids.values()) and settings.value("review/order") == FILE
    win.queue_combo.setCurrentIndex(win.queue_combo.findData("all"))
    assert _rows(win) == sorted(ids.values())  # only "To review" is ever sorted by usefulness
    win.close()

    again = _window(qtbot, settings, project_dir)  # remembered: file order from the start
    assert again.order_combo.currentData() == FILE and _rows(again) == sorted(ids.values())
    again.order_combo.setCurrentIndex(again.order_combo.findData(USEFUL))
    qtbot.waitUntil(lambda: _rows(again) == expected, timeout=10000)
    again.close()


def test_next_most_useful_shortcut_jumps_in_order_and_says_when_nothing_is_left(qtbot, tmp_path: Path,
                                                                                project_dir: Path) -> None:
    ids = _fill(project_dir, with_version=True)
    win = _window(qtbot, make_settings(tmp_path), project_dir)
    action = win.queue_order.act_next_useful
    assert action.isEnabled() and action.shortcut().toString() == NEXT_KEY
    assert (NEXT_KEY, "Next most useful image") in [(k, w.split(":")[0]) for k, w in shortcut_rows(win)]
    assert action in win.menuBar().actions()[2].menu().actions()  # View
    qtbot.waitUntil(lambda: bool(win.queue_order.entries), timeout=10000)

    QTest.keyClick(win, Qt.Key.Key_U)
    assert win.review.image_id == ids["b"]  # the most useful image
    b_boxes = sorted(a.id for a in win.project.repo.annotations_for_image(ids["b"]))
    assert win.canvas.selected_key() == b_boxes[0]  # its first box to review selected: A / R work at once
    QTest.keyClick(win, Qt.Key.Key_U)
    assert win.review.image_id == ids["c"]  # again on an unreviewed image: the next one after it

    win.show_image(ids["b"])
    QTest.keyClick(win, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)  # accept all: b is reviewed now
    assert win.project.repo.get_image(ids["b"]).reviewed
    win.show_image(ids["b"])
    QTest.keyClick(win, Qt.Key.Key_U)
    assert win.review.image_id == ids["c"]  # from a reviewed image: the top of what is left

    for name in "cda":
        win.project.repo.mark_reviewed(ids[name])
    QTest.keyClick(win, Qt.Key.Key_U)
    assert win.review.image_id == ids["c"] and win.banner.text == NOTHING_LEFT
    win.close()


def test_without_a_version_the_order_is_file_order_and_the_action_says_why(qtbot, tmp_path: Path,
                                                                          project_dir: Path) -> None:
    ids = _fill(project_dir, with_version=False)
    win = _window(qtbot, make_settings(tmp_path, review__order=USEFUL), project_dir)
    action = win.queue_order.act_next_useful
    assert not action.isEnabled() and action.toolTip() == NO_VERSION_TIP
    assert not win.order_combo.isEnabled() and win.order_combo.currentData() == FILE
    assert win.order_combo.toolTip() == NO_VERSION_TIP
    assert _rows(win) == sorted(ids.values())

    win.project.repo.add_model_version("v1", "retinanet_light", ["cat", "dog"])  # trained meanwhile
    win.queue_order.refresh_availability()  # what coming back to the window does (WindowActivate)
    assert action.isEnabled() and win.order_combo.isEnabled() and win.order_combo.currentData() == USEFUL
    qtbot.waitUntil(lambda: _rows(win) == [ids[n] for n in "bcda"], timeout=10000)
    win.close()
