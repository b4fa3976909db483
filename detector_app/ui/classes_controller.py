"""Class management in the window: add, rename, merge, delete, reorder and recolour the project's classes.

Every change is one stored edit (review.ClassEditor) pushed on the window's undo stack, so Ctrl+Z undoes a
merge like it undoes a moved box. Questions go through QInputDialog/QColorDialog/QMessageBox; a delete
first says how many boxes the class has and what would happen to them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QColorDialog, QInputDialog, QMessageBox, QWidget

from detector_app.core.labels import Status
from detector_app.core.names import printable
from detector_app.errors import DetectorAppError
from detector_app.review import ClassEdit, ClassEditor
from detector_app.storage.records import CategoryRecord
from detector_app.storage.repository import Repository
from detector_app.ui.panels import STATUS_TEXT


class ClassCommand(QUndoCommand):
    """A class edit already stored; undo/redo write its row snapshots back."""

    def __init__(self, owner: ClassesController, edit: ClassEdit) -> None:
        super().__init__(edit.text)
        self.owner, self.edit, self._applied = owner, edit, True

    def redo(self) -> None:
        if self._applied:  # pushed right after the change was made
            self._applied = False
            return
        self.owner.replay(lambda: self.owner.editor.redo(self.edit))

    def undo(self) -> None:
        self.owner.replay(lambda: self.owner.editor.undo(self.edit))


def describe_boxes(counts: dict[str, int]) -> str:
    """"5 boxes (2 to review, 3 accepted)"."""
    total = sum(counts.values())
    parts = ", ".join(f"{counts[status]} {STATUS_TEXT[status]}" for status in Status if counts.get(status))
    return f"{total} box{'es' if total != 1 else ''}" + (f" ({parts})" if parts else "")


class ClassesController(QObject):
    """``changed`` fires after every stored change to the class list (edits, undo, redo)."""

    changed = Signal()
    error = Signal(str)

    def __init__(self, repo: Repository, undo_stack: QUndoStack, parent: QWidget) -> None:
        super().__init__(parent)
        self.repo, self.undo_stack, self.parent_widget = repo, undo_stack, parent
        self.editor = ClassEditor(repo)

    def categories(self) -> list[CategoryRecord]:
        return self.repo.categories()

    def _find(self, category_id: int) -> CategoryRecord | None:
        return next((c for c in self.categories() if c.id == category_id), None)

    def _run(self, action: Callable[[], ClassEdit]) -> ClassEdit | None:
        try:
            edit = action()
        except DetectorAppError as exc:
            self.error.emit(str(exc))
            return None
        self.undo_stack.push(ClassCommand(self, edit))
        self.changed.emit()
        return edit

    def replay(self, action: Callable[[], None]) -> None:
        try:
            action()
        except DetectorAppError as exc:
            self.error.emit(str(exc))
        self.changed.emit()

    # the edits; each asks what it needs when not given ------------------------------------------------
    def add(self, name: str | None = None) -> CategoryRecord | None:
        if name is None:
            name, ok = QInputDialog.getText(self.parent_widget, "Add class", "Name of the new class:")
            if not ok or not name.strip():
                return None
        edit = self._run(lambda: self.editor.add(name))
        return None if edit is None else next(c for c in self.categories() if c.name == name.strip())

    def rename(self, category_id: int, name: str | None = None) -> None:
        current = self._find(category_id)
        if current is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self.parent_widget, "Rename class",
                                            f"New name for {printable(current.name)}:", text=current.name)
            if not ok or name.strip() == current.name:
                return
        self._run(lambda: self.editor.rename(category_id, name))

    def recolor(self, category_id: int, color: str | None = None) -> None:
        current = self._find(category_id)
        if current is None:
            return
        if color is None:
            chosen = QColorDialog.getColor(QColor(current.color), self.parent_widget,
                                           f"Colour of {printable(current.name)}")
            if not chosen.isValid():
                return
            color = chosen.name()
        self._run(lambda: self.editor.recolor(category_id, color))

    def move(self, category_id: int, step: int) -> None:
        """Move a class up (-1) or down (+1) the list: number keys follow the list."""
        ids = [c.id for c in self.categories()]
        if category_id not in ids:
            return
        i = ids.index(category_id)
        j = min(max(i + step, 0), len(ids) - 1)
        if i != j:
            ids[i], ids[j] = ids[j], ids[i]
            self._run(lambda: self.editor.reorder(ids))

    def merge(self, source_id: int, target_id: int | None = None, note: str = "") -> bool:
        """The boxes of ``source`` become boxes of ``target`` (asked for when None); ``source`` goes."""
        source = self._find(source_id)
        others = [c for c in self.categories() if c.id != source_id]
        if source is None or not others:
            if source is not None:
                self.error.emit(f"class {printable(source.name)} is the only class: add the class to merge into first")
            return False
        if target_id is None:
            counts = describe_boxes(self.repo.category_boxes(source_id))
            question = (note or f"Merge {printable(source.name)} ({counts}) into:") + "\n\n" + (
                f"Its boxes become boxes of the chosen class and {printable(source.name)} is removed (Ctrl+Z undoes).")
            name, ok = QInputDialog.getItem(self.parent_widget, "Merge class", question,
                                            [c.name for c in others], 0, False)
            if not ok:
                return False
            target_id = next(c.id for c in others if c.name == name)
        return self._run(lambda: self.editor.merge(source_id, target_id)) is not None

    def delete(self, category_id: int) -> bool:
        """A class without boxes is deleted after a yes; one with boxes is never deleted with them: the
        question says how many there are and offers to merge them into another class instead."""
        current = self._find(category_id)
        if current is None:
            return False
        counts = self.repo.category_boxes(category_id)
        name = printable(current.name)
        if sum(counts.values()):
            note = (f"Class {name} has {describe_boxes(counts)}. Deleting it would lose them, so it is not "
                    f"deleted: move its boxes to another class instead (merge)?\n\nMove the boxes of {name} to:")
            return self.merge(category_id, note=note)
        answer = QMessageBox.question(self.parent_widget, "Delete class",
                                      f"Delete class {name}? It has no boxes, so no box changes.")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self._run(lambda: self.editor.delete(category_id)) is not None
