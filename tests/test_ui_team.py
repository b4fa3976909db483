"""Several annotators in the window (issue 16): another client's edit appears on the canvas within the polling
time, an edit or an undo of a box someone changed meanwhile is refused with the banner's message and the view
reloads, "Next image for me" opens an image nobody else holds (F1 lists it), and the annotator's name is a
setting that the edits are recorded under."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detector_app.storage import Project
from detector_app.ui.main_window import MainWindow
from detector_app.ui.shortcuts import shortcut_rows
from detector_app.ui.team_controller import ANNOTATOR_SETTING, POLL_MS

from .ui_helpers import click, make_settings, seed_project, write_image

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path):
    image_id = seed_project(project_dir)
    win = MainWindow(make_settings(tmp_path, **{ANNOTATOR_SETTING: "alice"}), project_path=project_dir)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.show_image(image_id)
    win.image_id = image_id
    yield win
    win.close()


@pytest.fixture
def bob(project_dir: Path):
    """A second client on the same project, as another person."""
    with Project.open(project_dir) as project:
        project.repo.annotator = "bob"
        yield project.repo


def shown(win: MainWindow) -> dict[int, tuple]:
    """What the canvas draws: annotation id -> (class, bbox)."""
    return {item.spec.key: (item.spec.label, tuple(round(v) for v in item.bbox())) for item in win.canvas.box_items()}


def test_someone_elses_edit_appears_within_the_polling_time(window: MainWindow, bob, qtbot) -> None:
    win = window
    cat, dog = sorted(shown(win))
    assert shown(win)[cat] == ("cat", (100, 100, 200, 150)) and win.team.timer.isActive()
    bob.update_bbox(cat, (40, 60, 100, 80))
    bob.set_category(dog, "bird")
    drawn = bob.add_annotation(win.image_id, "cat", (500, 50, 60, 60))
    qtbot.waitUntil(lambda: shown(win) == {cat: ("cat", (40, 60, 100, 80)), dog: ("bird", (350, 200, 150, 200)),
                                           drawn.id: ("cat", (500, 50, 60, 60))}, timeout=2 * POLL_MS + 2000)
    assert win.project.repo.annotator == "alice"  # the setting, not the OS user


def test_an_edit_of_a_box_changed_meanwhile_is_refused_and_the_view_reloads(window: MainWindow, bob, qtbot) -> None:
    win = window
    win.team.timer.stop()  # the window has not polled since bob's change: its copy is old
    cat, _dog = sorted(shown(win))
    bob.update_bbox(cat, (40, 60, 100, 80))
    click(win.canvas, (250, 200))  # the cat box where the window still draws it
    assert win.canvas.selected_key() == cat
    QTest.keyClick(win, Qt.Key.Key_A)  # accept
    assert "changed by bob since you loaded it" in win.banner.text
    assert shown(win)[cat] == ("cat", (40, 60, 100, 80))  # reloaded: bob's box
    stored = win.project.repo.get_annotation(cat)
    assert (stored.status, stored.updated_by, stored.revision) == ("corrected", "bob", 2)  # not accepted
    QTest.keyClick(win, Qt.Key.Key_A)  # on the reloaded box the person may act
    assert win.project.repo.get_annotation(cat).updated_by == "alice"


def test_an_undo_of_a_box_someone_changed_since_is_refused(window: MainWindow, bob, qtbot) -> None:
    win = window
    win.team.timer.stop()
    _cat, dog = sorted(shown(win))
    click(win.canvas, (420, 300))
    QTest.keyClick(win, Qt.Key.Key_A)
    assert win.project.repo.get_annotation(dog).status == "accepted" and win.undo_stack.count() == 1
    bob.set_category(dog, "bird")
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "changed by bob" in win.banner.text
    stored = win.project.repo.get_annotation(dog)
    assert (stored.category_name, stored.status) == ("bird", "corrected")  # bob's relabel stays, not undone
    assert shown(win)[dog][0] == "bird" and win.undo_stack.count() == 0  # reloaded; the step is gone


def test_next_image_for_me_skips_images_held_by_someone_else(window: MainWindow, bob, project_dir: Path) -> None:
    win = window
    second, third = (bob.add_image(write_image(project_dir / "images" / f"{n}.jpg", seed=n)).id for n in (2, 3))
    assert bob.claim_next_image().id == win.image_id  # bob holds the first image
    win.team.act_next_for_me.trigger()
    assert win.review.image_id == second and bob.claimed_by(second) == "alice"
    win.team.act_next_for_me.trigger()
    assert win.review.image_id == third and bob.claimed_by(second) is None  # asking again lets the last go
    assert any("Next image for me" in what and "Ctrl" in keys for keys, what in shortcut_rows(win))


def test_the_annotator_name_is_a_setting_the_edits_are_recorded_under(window: MainWindow) -> None:
    win = window
    win.team.set_annotator("bad\x1bname")
    assert "annotator name" in win.banner.text and win.project.repo.annotator == "alice"
    win.team.set_annotator("  carol ")
    assert win.settings.value(ANNOTATOR_SETTING) == "carol" and win.project.repo.annotator == "carol"
    cat = min(shown(win))
    click(win.canvas, (250, 200))
    QTest.keyClick(win, Qt.Key.Key_A)  # accepts the cat box (and selects the next one to review)
    assert win.project.repo.get_annotation(cat).updated_by == "carol"
    assert win.project.repo.annotator_counts()["carol"].boxes_edited == 1
