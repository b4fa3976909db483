"""The "Manage classes" window: the class list in the user's order with colours, keys and box counts, and
buttons for every class edit (each one undoable with Ctrl+Z in the main window)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from detector_app.core.labels import Status
from detector_app.core.palette import hex_to_rgb
from detector_app.ui.classes_controller import ClassesController

ID_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1


def swatch(color: str, size: int = 14) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*(hex_to_rgb(color) or (128, 128, 128))))
    return QIcon(pixmap)


class ClassManagerDialog(QDialog):
    """Non-modal: it follows the class list while the main window changes it (undo, new classes)."""

    def __init__(self, controller: ClassesController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Manage classes")
        self.controller = controller
        self.list = QListWidget()
        self.hint = QLabel("Number keys 1-9 follow this order. COCO ids never change, whatever the order.")
        self.hint.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for i, (key, text, slot) in enumerate((
                ("add", "Add…", lambda: controller.add()),
                ("rename", "Rename…", lambda: self._on_current(controller.rename)),
                ("color", "Colour…", lambda: self._on_current(controller.recolor)),
                ("merge", "Merge into…", lambda: self._on_current(controller.merge)),
                ("up", "Move up", lambda: self._on_current(lambda c: controller.move(c, -1))),
                ("down", "Move down", lambda: self._on_current(lambda c: controller.move(c, 1))),
                ("delete", "Delete…", lambda: self._on_current(controller.delete)))):
            button = QPushButton(text)
            button.clicked.connect(slot)
            self.buttons[key] = button
            grid.addWidget(button, i // 4, i % 4)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.hint)
        layout.addLayout(grid)
        layout.addWidget(close)
        for keys, button in (("Ctrl+N", "add"), ("F2", "rename"), ("Delete", "delete"), ("Ctrl+Up", "up"),
                             ("Ctrl+Down", "down")):
            QShortcut(QKeySequence(keys), self, activated=self.buttons[button].click)
            self.buttons[button].setToolTip(keys)
        undo = controller.undo_stack.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))  # this window has its own keys: undo works here too
        redo = controller.undo_stack.createRedoAction(self, "Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addActions([undo, redo])
        controller.changed.connect(self.refresh)
        self.list.currentRowChanged.connect(lambda _row: self._enable())
        self.resize(460, 420)
        self.refresh()

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(NAME_ROLE) == name:
                self.list.setCurrentRow(row)

    def refresh(self) -> None:
        keep = self.current_id()
        counts = self.controller.repo.class_counts()
        self.list.clear()
        for row, category in enumerate(self.controller.categories()):
            kept = sum(n for status, n in counts.get(category.name, {}).items() if status != Status.REJECTED)
            key = f"{row + 1}" if row < 9 else "  "
            boxes = "1 box" if kept == 1 else f"{kept} boxes"
            item = QListWidgetItem(swatch(category.color),
                                   f"{key}   {category.name}   — {boxes}, COCO id {category.coco_id}")
            item.setData(ID_ROLE, category.id)
            item.setData(NAME_ROLE, category.name)
            self.list.addItem(item)
            if category.id == keep:
                self.list.setCurrentItem(item)
        self._enable()

    def _enable(self) -> None:
        has = self.current_id() is not None
        for key, button in self.buttons.items():
            button.setEnabled(key == "add" or has)

    def _on_current(self, action: Callable[[int], object]) -> None:
        category_id = self.current_id()
        if category_id is not None:
            action(category_id)
