"""Review on real widgets and a real project database: every step checked in SQLite, then undone and redone."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detector_app.ui.main_window import MainWindow

from .ui_helpers import click, drag, make_settings, seed_project

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path):
    image_id = seed_project(project_dir)
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.show_image(image_id)
    win.image_id = image_id
    yield win
    win.close()


def rows(win: MainWindow) -> dict[int, tuple]:
    """What the database holds for the image: id -> (class, bbox, status)."""
    return {a.id: (a.category_name, a.bbox, a.status) for a in win.project.repo.annotations_for_image(win.image_id)}


def same(row: tuple, expected: tuple) -> bool:
    """Mouse positions are whole screen pixels: at this zoom a box edge lands within 2 image pixels."""
    return row[0] == expected[0] and row[2] == expected[2] and row[1] == pytest.approx(expected[1], abs=2.0)


def press(win: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(win, key, modifier)


def test_draw_move_resize_relabel_accept_reject_then_undo_and_redo(window: MainWindow) -> None:
    win, canvas = window, window.canvas
    history = [rows(win)]
    cat_id, dog_id = sorted(history[0])
    assert same(history[0][cat_id], ("cat", (100, 100, 200, 150), "predicted"))

    # draw a new box (D, then drag) -> a human box of the first class, accepted
    press(win, Qt.Key.Key_D)
    assert canvas.draw_mode
    drag(win, canvas, (20, 300), (80, 420))
    press(win, Qt.Key.Key_D)
    history.append(rows(win))
    new_id = (set(history[-1]) - set(history[-2])).pop()
    assert same(history[-1][new_id], ("cat", (20, 300, 60, 120), "accepted"))

    # move the cat prediction by 40, 30 px -> corrected
    drag(win, canvas, (200, 175), (240, 205))
    history.append(rows(win))
    moved = history[-1][cat_id][1]
    assert same(history[-1][cat_id], ("cat", (140, 130, 200, 150), "corrected"))

    # resize it from its bottom-right handle (it is selected after the move)
    assert canvas.selected_key() == cat_id
    drag(win, canvas, (moved[0] + moved[2], moved[1] + moved[3]), (380, 300))
    history.append(rows(win))
    assert same(history[-1][cat_id], ("cat", (140, 130, 240, 170), "corrected"))

    # relabel it with key 3 (third class: bird)
    press(win, Qt.Key.Key_3)
    history.append(rows(win))
    assert history[-1][cat_id][0] == "bird"

    # accept the dog prediction (select by clicking, then A)
    click(canvas, (425, 300))
    assert canvas.selected_key() == dog_id
    press(win, Qt.Key.Key_A)
    history.append(rows(win))
    assert same(history[-1][dog_id], ("dog", (350, 200, 150, 200), "accepted"))

    # reject it (R): stays in the database as rejected, hidden on the canvas
    press(win, Qt.Key.Key_R)
    history.append(rows(win))
    assert history[-1][dog_id][2] == "rejected"
    assert canvas.item_for(dog_id) is None

    # undo every step, checking the database after each; then redo them all
    for expected in reversed(history[:-1]):
        press(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert rows(win) == expected
    for expected in history[1:]:
        press(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert rows(win) == expected


def test_boxes_are_clamped_to_the_image(window: MainWindow) -> None:
    win, canvas = window, window.canvas
    cat_id = min(rows(win))
    drag(win, canvas, (200, 175), (900, 900))  # far beyond the 640x480 image
    x, y, w, h = win.project.repo.get_annotation(cat_id).bbox
    assert (x + w, y + h) == pytest.approx((640, 480), abs=0.01)
    assert (w, h) == pytest.approx((200, 150), abs=0.01)


def test_undo_works_across_image_changes(window: MainWindow, project_dir: Path, qtbot) -> None:
    win = window
    cat_id = min(rows(win))
    click(win.canvas, (200, 175))
    press(win, Qt.Key.Key_A)
    assert win.project.repo.get_annotation(cat_id).status == "accepted"
    from .ui_helpers import write_image

    other = win.project.repo.add_image(write_image(project_dir / "images" / "b.jpg", seed=1))
    win.refresh_image_list()
    win.show_image(other.id)
    press(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.project.repo.get_annotation(cat_id).status == "predicted"
    assert win.review.image_id == win.image_id  # the view went back to the edited image


def test_accept_all_marks_the_image_reviewed(window: MainWindow) -> None:
    win = window
    press(win, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    statuses = {a.status for a in win.project.repo.annotations_for_image(win.image_id)}
    assert statuses == {"accepted"}
    assert win.project.repo.get_image(win.image_id).reviewed
    assert win.image_id not in win.project.repo.image_ids(state="unreviewed")
