"""The fast review loop through the real window: accept/reject advance box by box then image by image, the
"x of N reviewed" counter, marks in the image list, overlapping boxes, hide/lock, drawing mode and the class
filter (canvas and box table alike), with the database checked after each step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.ui.image_list import EMPTY_MARK, REVIEWED_MARK
from detector_app.ui.main_window import MainWindow

from .ui_helpers import active_window, click, drag, make_settings, seed_project, write_image

pytestmark = pytest.mark.gui


@pytest.fixture
def project_ids(project_dir: Path) -> tuple[int, int, int]:
    """Image a (cat 0.9, dog 0.8), image b (a cat inside a bigger dog), image c (no boxes)."""
    first = seed_project(project_dir)
    with Project.open(project_dir) as project:
        repo = project.repo
        second = repo.add_image(write_image(project_dir / "images" / "b.jpg", seed=1)).id
        dets = Detections(np.array([[200, 150, 260, 210], [100, 100, 400, 300]], np.float32),
                          np.array([0.9, 0.8]), np.array([1, 2]), ("__background__", "cat", "dog"))
        repo.add_predictions(second, dets)
        third = repo.add_image(write_image(project_dir / "images" / "c.jpg", seed=2)).id
    return first, second, third


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path, project_ids):
    win = active_window(qtbot, make_settings(tmp_path), project_dir)
    win.queue_combo.setCurrentIndex(1)  # all images, so reviewed ones stay listed
    win.show_image(project_ids[0])
    yield win
    win.close()


def key(win: MainWindow, k: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(win, k, modifier)


def statuses(win: MainWindow, image_id: int) -> list[str]:
    return [a.status for a in win.project.repo.annotations_for_image(image_id)]


def row_texts(win: MainWindow) -> list[str]:
    model = win.image_model
    return [model.data(model.index(r)) for r in range(model.rowCount())]


def test_accept_and_reject_advance_box_by_box_then_to_the_next_image(window: MainWindow, project_ids) -> None:
    win, (a, b, _c) = window, project_ids
    cat, dog = sorted(x.id for x in win.project.repo.annotations_for_image(a))
    assert win.images.progress_label.text() == "0 of 3 reviewed"
    assert row_texts(win) == ["a.jpg", "b.jpg", f"c.jpg  · {EMPTY_MARK}"]
    assert win.images.act_advance.isChecked()  # the setting is on by default

    click(win.canvas, (200, 175))
    key(win, Qt.Key.Key_A)
    assert statuses(win, a) == ["accepted", "predicted"]
    assert win.canvas.selected_key() == dog  # on to the next box to review
    key(win, Qt.Key.Key_R)
    assert statuses(win, a) == ["accepted", "rejected"]
    assert win.review.image_id == b  # the image is done: on to the next one, its first box to review selected
    first_of_b = min(x.id for x in win.project.repo.annotations_for_image(b))
    assert win.canvas.selected_key() == first_of_b
    assert win.project.repo.get_image(a).reviewed
    assert win.images.progress_label.text() == "1 of 3 reviewed"
    assert row_texts(win)[0] == f"{REVIEWED_MARK} a.jpg"

    # with the setting off, accept stays on the box
    win.images.act_advance.trigger()
    assert not win.settings.value("review/advance", type=bool)
    key(win, Qt.Key.Key_A)
    assert statuses(win, b) == ["accepted", "predicted"]
    assert win.canvas.selected_key() == first_of_b
    assert win.review.image_id == b


def test_correcting_a_decided_box_stays_on_the_image(window: MainWindow, project_ids) -> None:
    """Only deciding a box that waits for review moves on; rejecting a box already accepted on a done image
    keeps the image on screen, so the person sees the change."""
    win, (a, _b, _c) = window, project_ids
    cat, dog = sorted(x.id for x in win.project.repo.annotations_for_image(a))
    win.images.act_advance.trigger()  # accept both without moving on
    click(win.canvas, (200, 175))
    key(win, Qt.Key.Key_A)
    win.canvas.select(dog)
    key(win, Qt.Key.Key_A)
    assert statuses(win, a) == ["accepted", "accepted"]
    win.images.act_advance.trigger()  # advancing on again
    win.canvas.select(cat)
    key(win, Qt.Key.Key_R)
    assert statuses(win, a) == ["rejected", "accepted"]
    assert win.review.image_id == a  # still on screen, the rejected box shown as rejected


def test_cycle_overlapping_boxes_with_tab_and_repeated_clicks(window: MainWindow, project_ids) -> None:
    win, (_a, b, _c) = window, project_ids
    win.show_image(b)
    small, big = sorted(x.id for x in win.project.repo.annotations_for_image(b))  # cat inside the dog
    click(win.canvas, (150, 120))  # only the big box is here
    assert win.canvas.selected_key() == big
    key(win, Qt.Key.Key_Tab)  # the boxes overlapping it, smallest first
    assert win.canvas.selected_key() == small
    key(win, Qt.Key.Key_Tab)
    assert win.canvas.selected_key() == big
    key(win, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)  # what Shift+Tab sends
    assert win.canvas.selected_key() == small
    # clicking again at the same point walks through the boxes stacked there, and never moves one
    first = win.canvas.selected_key()
    seen = []
    for _ in range(3):
        click(win.canvas, (230, 180))
        seen.append(win.canvas.selected_key())
    assert set(seen) == {small, big} and seen[1] != seen[2]
    assert first in (small, big)
    assert [x.bbox for x in win.project.repo.annotations_for_image(b)] == [(200, 150, 60, 60), (100, 100, 300, 200)]


def test_hide_and_lock_are_view_state_only(window: MainWindow, project_ids, project_dir: Path) -> None:
    win, (a, _b, _c) = window, project_ids
    cat, dog = sorted(x.id for x in win.project.repo.annotations_for_image(a))
    before = win.project.repo.annotations_for_image(a)
    click(win.canvas, (425, 300))
    key(win, Qt.Key.Key_H)
    assert win.canvas.item_for(dog) is None
    assert win.project.repo.annotations_for_image(a) == before  # hiding stores nothing
    key(win, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)
    assert win.canvas.item_for(dog) is not None
    click(win.canvas, (200, 175))
    key(win, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert win.canvas.item_for(cat).spec.locked
    drag(win, win.canvas, (200, 175), (260, 215))  # a locked box does not move
    assert win.project.repo.get_annotation(cat).bbox == (100, 100, 200, 150)
    key(win, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    drag(win, win.canvas, (200, 175), (240, 205))
    assert win.project.repo.get_annotation(cat).bbox == pytest.approx((140, 130, 200, 150), abs=2)


def test_drawing_mode_shows_itself(window: MainWindow) -> None:
    win = window
    key(win, Qt.Key.Key_D)
    assert win.act_draw.isChecked()
    assert win.canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    assert win.images.mode_label.text().startswith("Drawing boxes of cat")
    key(win, Qt.Key.Key_D)
    assert not win.act_draw.isChecked() and win.images.mode_label.text() == ""
    assert win.canvas.viewport().cursor().shape() == Qt.CursorShape.ArrowCursor


def test_class_filter_applies_to_the_box_table_and_clears_with_show_all_or_a_second_click(window: MainWindow,
                                                                                            qtbot) -> None:
    win = window
    assert win.box_table.rowCount() == 2
    header = win.class_header
    assert not header.show_all.isEnabled()
    rect = win.class_table.visualRect(win.class_table.model().index(1, 1))  # "dog"
    qtbot.mouseClick(win.class_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.filters.class_filter() == {"dog"}
    assert [win.box_table.item(r, 0).text() for r in range(win.box_table.rowCount())] == ["dog"]
    assert len(win.canvas.box_items()) == 1 and header.show_all.isEnabled()
    qtbot.mouseClick(header.show_all, Qt.MouseButton.LeftButton)
    assert win.filters.class_filter() is None and win.box_table.rowCount() == 2
    qtbot.mouseClick(win.class_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.box_table.rowCount() == 1
    qtbot.mouseClick(win.class_table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # click again
    assert win.filters.class_filter() is None and win.box_table.rowCount() == 2
    assert len(win.canvas.box_items()) == 2
