"""Small dialogs: searchable class picker, label import (export: export_dialog.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from detector_app.core.names import name_problem


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


class ImportDialog(QDialog):
    """Format, labels file (or folder) and image folder of an import; remembers them (``remember``)."""

    def __init__(self, formats: Sequence[str], settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Import labels")
        self.setMinimumWidth(560)
        self.format = QComboBox()
        self.format.addItems(list(formats))
        index = self.format.findText(str(settings.value("import/format", "coco")))
        self.format.setCurrentIndex(max(0, index))
        self.path = QLineEdit(str(settings.value("import/path", "")))
        self.path.setPlaceholderText("the labels: COCO instances JSON, or the format's file or folder")
        self.images = QLineEdit(str(settings.value("import/images", "")))
        self.images.setPlaceholderText("the folder the images' names are relative to (empty: the format's default)")
        file_button, folder_button, images_button = QPushButton("File…"), QPushButton("Folder…"), QPushButton("Folder…")
        file_button.clicked.connect(self.choose_file)
        folder_button.clicked.connect(lambda: self._choose_folder(self.path, "Labels folder"))
        images_button.clicked.connect(lambda: self._choose_folder(self.images, "Folder with the images"))
        form = QFormLayout(self)
        form.addRow("Format", self.format)
        form.addRow("Labels", self._row(self.path, file_button, folder_button))
        form.addRow("Images", self._row(self.images, images_button))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.path.textChanged.connect(self._update)
        self._update()

    @staticmethod
    def _row(edit: QLineEdit, *buttons: QPushButton) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        for button in buttons:
            layout.addWidget(button)
        return row

    def _start_folder(self, edit: QLineEdit) -> str:
        text = edit.text().strip()
        return str(Path(text).parent if text and not Path(text).is_dir() else text)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labels file", self._start_folder(self.path),
                                              "Label files (*.json *.yaml *.yml *.txt *.xml *.csv);;All files (*)")
        if path:
            self.path.setText(path)
            if not self.images.text().strip():
                self.images.setText(str(Path(path).parent))

    def _choose_folder(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, self._start_folder(edit) or self._start_folder(self.path))
        if folder:
            edit.setText(folder)

    def _update(self) -> None:
        self.import_button.setEnabled(bool(self.path.text().strip()))

    def chosen(self) -> tuple[str, Path, Path | None]:
        images = self.images.text().strip()
        return (self.format.currentText(), Path(self.path.text().strip()).expanduser(),
                Path(images).expanduser() if images else None)

    def remember(self) -> None:
        fmt, path, images = self.chosen()
        self.settings.setValue("import/format", fmt)
        self.settings.setValue("import/path", str(path))
        self.settings.setValue("import/images", str(images) if images else "")
