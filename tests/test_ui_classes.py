"""Class management through the real window: the manager dialog's buttons, keys, the canvas and the database
checked after each step, then every step undone and redone with Ctrl+Z / Ctrl+Shift+Z."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QColorDialog, QDialogButtonBox, QInputDialog, QMessageBox

from detector_app.storage import Project
from detector_app.ui.dialogs import ClassPicker
from detector_app.ui.main_window import MainWindow

from .ui_helpers import active_window, drag, make_settings, seed_project, write_image

pytestmark = pytest.mark.gui


class Answers:
    """What the user types into the modal dialogs (which would block a test); records what they asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        self.items: list[str] = []
        self.colors: list[str] = []
        self.questions: list[str] = []
        self.asked: list[str] = []
        monkeypatch.setattr(QInputDialog, "getText", lambda _p, _t, label, **_k: self._text(label))
        monkeypatch.setattr(QInputDialog, "getItem", lambda _p, _t, label, items, *_a: self._item(label, items))
        monkeypatch.setattr(QColorDialog, "getColor", lambda *_a: QColor(self.colors.pop(0)))
        monkeypatch.setattr(QMessageBox, "question", lambda _p, _t, text, *_a: self._question(text))

    def _text(self, label: str) -> tuple[str, bool]:
        self.asked.append(label)
        return (self.texts.pop(0), True) if self.texts else ("", False)

    def _item(self, label: str, items: list[str]) -> tuple[str, bool]:
        self.asked.append(label)
        choice = self.items.pop(0) if self.items else None
        assert choice is None or choice in items
        return (choice or "", choice is not None)

    def _question(self, text: str) -> QMessageBox.StandardButton:
        self.asked.append(text)
        return QMessageBox.StandardButton.Yes if self.questions.pop(0) == "yes" else QMessageBox.StandardButton.No


def dump_database(db: Path) -> list[str]:
    """Every class and box row as stored (the images' review times follow the review rule, not undo; a box's
    revision and author are bookkeeping an undo moves forward, storage/team.py, so they are left out)."""
    copy = sqlite3.connect(":memory:")
    with closing(sqlite3.connect(db)) as source:
        source.backup(copy)
    with closing(copy):
        copy.execute("UPDATE annotations SET revision = 1, updated_by = NULL")
        return [line for line in copy.iterdump()
                if line.startswith(('INSERT INTO "categories"', 'INSERT INTO "annotations"'))]


def type_into_picker(text: str):
    """The picker's exec() as a person uses it: type a name, click OK (the real dialog's own checks run)."""
    def run(picker: ClassPicker) -> int:
        picker.show()
        QTest.keyClicks(picker.search, text)
        ok = picker.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)
        return picker.result()
    return run


def open_window(qtbot, tmp_path: Path, project_dir: Path, image_id: int) -> MainWindow:
    win = active_window(qtbot, make_settings(tmp_path), project_dir)
    win.show_image(image_id)
    return win


def classes(win: MainWindow) -> list[tuple[str, int]]:
    """The class list in the user's order: (name, COCO id)."""
    return [(c.name, c.coco_id) for c in win.project.repo.categories()]


def boxes(win: MainWindow) -> list[str]:
    return [a.category_name for a in win.project.repo.annotations_for_image(win.review.image_id)]


def key(win: MainWindow, k: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(win, k, modifier)


def test_label_set_up_front_first_box_asks_and_new_boxes_take_the_last_class(
        qtbot, tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Project.open(project_dir) as project:
        image_id = project.repo.add_image(write_image(project_dir / "images" / "a.jpg")).id
    answers = Answers(monkeypatch)
    win = open_window(qtbot, tmp_path, project_dir, image_id)
    db = project_dir / "project.db"
    states = [dump_database(db)]

    # no class yet: drawing a box asks for one (no "object" class appears); cancelling keeps nothing
    key(win, Qt.Key.Key_D)
    assert "a new class" in win.images.mode_label.text()
    drag(win, win.canvas, (20, 20), (120, 140))
    assert answers.asked == ["Name of the new class:"]
    assert classes(win) == [] and boxes(win) == [] and dump_database(db) == states[0]
    answers.texts = ["person"]
    drag(win, win.canvas, (20, 20), (120, 140))
    assert classes(win) == [("person", 1)] and boxes(win) == ["person"]
    states += [None, dump_database(db)]  # two edits: the class, then the box

    # define more classes up front in the manager (before any of their boxes exist)
    key(win, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = win.images.class_dialog
    assert dialog is not None and dialog.isVisible()
    for name in ("car", "bike"):
        answers.texts = [name]
        qtbot.mouseClick(dialog.buttons["add"], Qt.MouseButton.LeftButton)
        states.append(dump_database(db))
    assert classes(win) == [("person", 1), ("car", 2), ("bike", 3)]
    assert dialog.list.count() == 3 and "bike" in dialog.list.item(2).text()

    # the next box takes the last used class (person), not a new "object"
    drag(win, win.canvas, (300, 20), (400, 140))
    states.append(dump_database(db))
    assert sorted(boxes(win)) == ["person", "person"]
    key(win, Qt.Key.Key_3)  # relabel the new (selected) box to bike: bike is now the last used
    states.append(dump_database(db))
    drag(win, win.canvas, (300, 300), (400, 400))
    states.append(dump_database(db))
    assert sorted(boxes(win)) == ["bike", "bike", "person"]
    assert "bike" in win.images.mode_label.text()
    key(win, Qt.Key.Key_D)
    assert win.images.mode_label.text() == ""

    # L, then a new name typed into the class picker: the class is added (its own undo step), the box relabelled
    monkeypatch.setattr(ClassPicker, "exec", type_into_picker("horse"))
    key(win, Qt.Key.Key_L)
    assert classes(win)[-1] == ("horse", 4) and sorted(boxes(win)) == ["bike", "horse", "person"]
    states += [None, dump_database(db)]

    # undo everything back to the empty project, checking the database at each step
    for k in range(len(states) - 1, 0, -1):
        key(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        if states[k - 1] is not None:
            assert dump_database(db) == states[k - 1], k
    assert classes(win) == [] and boxes(win) == []
    win.close()


def test_rename_colour_reorder_merge_delete_in_the_manager_then_undo_and_redo(
        qtbot, tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image_id = seed_project(project_dir)  # cat 0.9 and dog 0.8 predictions; classes cat, dog, bird
    answers = Answers(monkeypatch)
    win = open_window(qtbot, tmp_path, project_dir, image_id)
    db = project_dir / "project.db"
    states = [dump_database(db)]
    dialog = win.images.open_class_manager()
    cat_box, dog_box = sorted(a.id for a in win.project.repo.annotations_for_image(image_id))

    def press(button: str) -> None:
        qtbot.mouseClick(dialog.buttons[button], Qt.MouseButton.LeftButton)
        states.append(dump_database(db))

    # the manager's own keys: F2 renames, Ctrl+Z undoes in the manager too
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    dialog.select("bird")
    answers.texts = ["robin"]
    QTest.keyClick(dialog, Qt.Key.Key_F2)
    assert classes(win) == [("cat", 1), ("dog", 2), ("robin", 3)]
    QTest.keyClick(dialog, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert classes(win) == [("cat", 1), ("dog", 2), ("bird", 3)] and dump_database(db) == states[0]
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)

    dialog.select("bird")
    answers.texts = ["parrot"]
    press("rename")
    assert classes(win) == [("cat", 1), ("dog", 2), ("parrot", 3)]
    assert win.class_table.item(2, 1).text() == "parrot"

    dialog.select("dog")
    answers.colors = ["#00ff00"]
    press("color")
    assert win.project.repo.categories()[1].color == "#00ff00"
    assert win.canvas.item_for(dog_box).spec.color == (0, 255, 0)  # the stored colour wins on the canvas
    assert win.class_table.item(1, 1).foreground().color().name() == "#00ff00"

    dialog.select("parrot")
    press("up")
    press("up")
    assert classes(win) == [("parrot", 3), ("cat", 1), ("dog", 2)]  # COCO ids never shift
    assert [win.class_table.item(r, 1).text() for r in range(3)] == ["parrot", "cat", "dog"]
    win.canvas.select(cat_box)
    key(win, Qt.Key.Key_1)  # number keys follow the order: 1 is now parrot
    states.append(dump_database(db))
    assert win.project.repo.get_annotation(cat_box).category_name == "parrot"

    # delete a class with a box: the question first says how many boxes and what happens; it merges
    dialog.select("parrot")
    answers.items = ["dog"]
    press("delete")
    assert "1 box (1 corrected)" in answers.asked[-1] and "not deleted" in answers.asked[-1]
    assert classes(win) == [("cat", 1), ("dog", 2)]
    assert win.project.repo.get_annotation(cat_box).category_name == "dog"

    # declining the merge changes nothing
    dialog.select("dog")
    answers.items = []
    qtbot.mouseClick(dialog.buttons["delete"], Qt.MouseButton.LeftButton)
    assert dump_database(db) == states[-1]

    # a class without boxes: a yes deletes it
    dialog.select("cat")
    answers.questions = ["yes"]
    press("delete")
    assert "no boxes" in answers.asked[-1]
    assert classes(win) == [("dog", 2)]
    assert dialog.list.count() == 1

    for k in range(len(states) - 1, 0, -1):
        key(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert dump_database(db) == states[k - 1], k
    assert dialog.list.count() == 3 and classes(win) == [("cat", 1), ("dog", 2), ("bird", 3)]
    for k in range(1, len(states)):
        key(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert dump_database(db) == states[k], k
    win.close()
