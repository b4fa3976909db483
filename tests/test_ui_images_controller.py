"""The image list and the undo stack through the real window: a filter that hides every image says so (and
shows them again on a click), an undo that goes back to another image selects it in the list, the class
manager counts boxes in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detector_app.storage import Project
from detector_app.ui.main_window import MainWindow

from .test_ui_review_loop import project_ids  # noqa: F401 (fixture)
from .ui_helpers import active_window, click, make_settings

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path, project_ids):  # noqa: F811
    win = active_window(qtbot, make_settings(tmp_path), project_dir)
    yield win
    win.close()


def test_a_queue_that_hides_every_image_says_how_many_there_are_and_shows_them(window: MainWindow) -> None:
    win = window
    assert win.project.repo.count_images("reviewed") == 0
    win.queue_combo.setCurrentIndex(win.queue_combo.findData("reviewed"))
    assert win.images_stack.currentWidget() is win.images_empty
    text = win.images_empty.text()
    assert "No images in “Reviewed”: the project has 3." in text and "Show all images" in text
    assert "import a COCO dataset" not in text  # the hint for an empty project would send the user astray

    win.images_empty.linkActivated.emit("all")  # what a click on the link sends
    assert win.queue_combo.currentData() == "all"
    assert win.images_stack.currentWidget() is win.image_view
    assert win.image_model.rowCount() == 3


def test_an_empty_project_keeps_its_getting_started_hint(qtbot, tmp_path: Path) -> None:
    Project.open(tmp_path / "empty").close()
    win = MainWindow(make_settings(tmp_path), project_path=tmp_path / "empty")
    qtbot.addWidget(win)
    assert win.images_stack.currentWidget() is win.images_empty
    assert win.images_empty.text().startswith("No images here yet.")
    assert "Capture live frames with Space" in win.images_empty.text()
    win.close()


def test_undo_back_to_the_previous_image_selects_it_in_the_list(window: MainWindow, project_ids) -> None:  # noqa: F811
    win, (a, b, _c) = window, project_ids
    win.queue_combo.setCurrentIndex(win.queue_combo.findData("all"))
    win.show_image(a)
    click(win.canvas, (200, 175))  # the cat
    QTest.keyClick(win, Qt.Key.Key_A)  # accepted, on to the dog
    QTest.keyClick(win, Qt.Key.Key_R)  # rejected: image a is done, on to b
    assert win.review.image_id == b
    assert win.image_view.currentIndex().row() == win.image_model.row_of(b)

    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.review.image_id == a
    assert sorted(x.status for x in win.project.repo.annotations_for_image(a)) == ["accepted", "predicted"]
    assert win.image_view.currentIndex().row() == win.image_model.row_of(a)  # the list follows the canvas


def test_the_class_manager_counts_one_box_as_one_box(window: MainWindow, project_ids) -> None:  # noqa: F811
    window.show_image(project_ids[0])
    click(window.canvas, (200, 175))
    QTest.keyClick(window, Qt.Key.Key_R)  # image a's cat rejected: image b's cat is the only one left
    dialog = window.images.open_class_manager()
    assert dialog is not None
    texts = [dialog.list.item(row).text() for row in range(dialog.list.count())]
    assert any(t.split("   ")[1:] == ["cat", "— 1 box, COCO id 1"] for t in texts), texts
    assert any("— 0 boxes," in t for t in texts)  # bird
    dialog.close()
