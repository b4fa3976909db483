"""Export labels…: format (every registered one, plugins too), scope, copied images and the destination folder,
checked as it is typed with the export's own rule; afterwards a note that says where the files went."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from detector_app.errors import DetectorAppError
from detector_app.transfer.exporting import check_destination

SCOPES = (("reviewed", "Reviewed labels only (accepted, corrected, drawn)"),
          ("all", "Everything except rejected boxes"))
ERROR_STYLE = "color: #c0392b"


def destination_note(text: str) -> tuple[str, bool]:
    """What exporting into the folder ``text`` would do, and whether it may (the rule is the export's own)."""
    if not text.strip():
        return "Choose the folder the export is written into.", False
    folder = Path(text.strip()).expanduser()
    if not folder.is_absolute():
        return "Give the folder's full path (or choose it with Choose…).", False
    try:
        previous = check_destination(folder)
    except DetectorAppError as exc:
        return f"Refused: {exc}", False
    if previous is not None:
        return (f"Holds a {previous.format} export from {previous.created or 'an earlier run'}: it is replaced "
                "(you are asked first); files you added there are kept."), True
    if folder.is_dir():
        return "Empty folder: the export is written here.", True
    return "New folder: it is created for the export.", True


class ExportDialog(QDialog):
    """Options and destination of an export; remembers them in ``settings`` once accepted (``remember``)."""

    def __init__(self, formats: Sequence[str], settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Export labels")
        self.setMinimumWidth(560)
        self.format = QComboBox()
        self.format.addItems(list(formats))
        self._select(self.format, str(settings.value("export/format", "coco")))
        self.scope = QComboBox()
        for key, text in SCOPES:
            self.scope.addItem(text, key)
        self.scope.setCurrentIndex(max(0, self.scope.findData(settings.value("export/scope", "reviewed"))))
        self.copy_images = QCheckBox("Copy images (video frames are written as files)")
        self.copy_images.setChecked(settings.value("export/copy_images", False, type=bool))
        self.folder = QLineEdit(str(settings.value("export/folder", "")))
        self.folder.setObjectName("destination")
        self.folder.setPlaceholderText("a new or empty folder, or a previous export to replace")
        self.browse = QPushButton("Choose…")
        self.browse.clicked.connect(self.choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse)
        self.note = QLabel(wordWrap=True)
        self.note.setObjectName("destinationNote")
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Scope", self.scope)
        form.addRow("", self.copy_images)
        form.addRow("Export into", row)
        form.addRow("", self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.export_button.setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.folder.textChanged.connect(self.check)
        self.check()

    @staticmethod
    def _select(combo: QComboBox, text: str) -> None:
        index = combo.findText(text)
        if index >= 0:
            combo.setCurrentIndex(index)

    def choose_folder(self) -> None:
        start = self.folder.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", start)
        if folder:
            self.folder.setText(folder)

    def check(self) -> bool:
        """Say what the chosen folder would get; the Export button only for a folder the export accepts."""
        text, ok = destination_note(self.folder.text())
        self.note.setText(text)
        self.note.setStyleSheet("" if ok else ERROR_STYLE)
        self.export_button.setEnabled(ok)
        return ok

    def accept(self) -> None:
        if self.check():  # the folder may have changed on disk since it was typed
            super().accept()

    def options(self) -> tuple[str, str, bool]:
        return self.format.currentText(), self.scope.currentData(), self.copy_images.isChecked()

    def destination(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()

    def remember(self) -> None:
        fmt, scope, copy_images = self.options()
        for key, value in (("format", fmt), ("scope", scope), ("copy_images", copy_images),
                           ("folder", str(self.destination()))):
            self.settings.setValue(f"export/{key}", value)


class ExportDoneDialog(QDialog):
    """Where the export went, with a button that opens the folder in the file manager."""

    def __init__(self, folder: Path, main_file: Path, fmt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export finished")
        self.folder = folder
        self.url = QUrl.fromLocalFile(str(folder))
        label = QLabel(f"Exported the {fmt} labels to<br><a href=\"{self.url.toString()}\">{folder}</a><br>"
                       f"main file: {main_file.name}")
        label.setObjectName("exportDone")
        label.setTextInteractionFlags(label.textInteractionFlags())
        label.linkActivated.connect(lambda _link: self.open_folder())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_folder)
        buttons.rejected.connect(self.reject)
        self.failed = QLabel()  # no file manager answered (a server, a bare desktop): the path to copy instead
        self.failed.setObjectName("openFailed")
        self.failed.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.failed.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.failed)
        layout.addWidget(buttons)

    def open_folder(self) -> None:
        if not QDesktopServices.openUrl(self.url):
            self.failed.setText(f"No file manager could open the folder; it is {self.folder}")
            self.failed.show()
