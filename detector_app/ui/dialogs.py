"""Small dialogs: searchable class picker, keyboard shortcuts sheet, COCO export options."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

from detector_app.core.names import name_problem

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "Capture the current live/video frame and its boxes into the project"),
    ("A / Enter", "Accept the selected prediction"),
    ("Shift+A", "Accept all predictions shown on this image"),
    ("R", "Reject the selected prediction"),
    ("Delete", "Delete the selected box"),
    ("D", "Draw a new box (toggle)"),
    ("1 … 9", "Set the class of the selected box (or of the next drawn box)"),
    ("L", "Change class with a searchable list"),
    ("N / →", "Next image in the review queue"),
    ("P / ←", "Previous image"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo (across images)"),
    ("F", "Fit the image to the window"),
    ("Wheel / middle drag", "Zoom / pan"),
    ("K", "Play / pause a video"),
    ("F1", "This sheet"),
)


class ClassPicker(QDialog):
    """Type to filter; Enter picks the highlighted class; a new name creates a class."""

    def __init__(self, names: Sequence[str], current: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose class")
        self.names = list(names)
        self.search = QLineEdit(placeholderText="Type a class name…")
        self.list = QListWidget()
        self.list.addItems(self.names)
        self.problem = QLabel(wordWrap=True)  # why a typed new name cannot be a class (core.names rule)
        self.problem.setStyleSheet("color: #c0392b")
        self.problem.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.accept)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        if current in self.names:
            self.list.setCurrentRow(self.names.index(current))

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        first = None
        for row in range(self.list.count()):
            item = self.list.item(row)
            hidden = needle not in item.text().lower()
            item.setHidden(hidden)
            if not hidden and first is None:
                first = row
        if first is not None:
            self.list.setCurrentRow(first)

    def _typed_name_problem(self) -> str | None:
        item = self.list.currentItem()
        if (item is not None and not item.isHidden()) or not self.search.text().strip():
            return None
        return name_problem(self.search.text())

    def accept(self) -> None:
        """A new class name is checked with the importers' rule before the dialog closes."""
        problem = self._typed_name_problem()
        if problem is not None:
            self.problem.setText(problem[:1].upper() + problem[1:])
            self.problem.show()
            return
        super().accept()

    def chosen(self) -> str | None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            return item.text()
        text = self.search.text().strip()
        return text if text and name_problem(text) is None else None


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in SHORTCUTS)
        label = QLabel(f"<table cellpadding=3>{rows}</table>")
        label.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class ExportDialog(QDialog):
    """Scope and options for a COCO export."""

    SCOPES = (("reviewed", "Reviewed labels only (accepted, corrected, drawn)"),
              ("all", "Everything except rejected boxes"))

    def __init__(self, formats: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export labels")
        self.format = QComboBox()
        self.format.addItems(list(formats))
        self.scope = QComboBox()
        for key, text in self.SCOPES:
            self.scope.addItem(text, key)
        self.copy_images = QCheckBox("Copy images (video frames are written as files)")
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Scope", self.scope)
        form.addRow("", self.copy_images)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def options(self) -> tuple[str, str, bool]:
        return self.format.currentText(), self.scope.currentData(), self.copy_images.isChecked()
