"""The main window: canvas in the middle, source bar on top, side panel, status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QMainWindow

from detector_app import __version__


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, project_path: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.setWindowTitle(f"Detector {__version__}")
        self.resize(1280, 800)
        empty = QLabel("Open a video, a webcam or an image folder to start detecting.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setObjectName("emptyState")
        self.setCentralWidget(empty)
        self.statusBar().showMessage("Ready")
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        super().closeEvent(event)
