"""Create the QApplication and the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from detector_app import APP_NAME, __version__
from detector_app.paths import app_paths


def app_settings() -> QSettings:
    """Settings stored as an INI file in the platformdirs config folder."""
    path = app_paths().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


def ensure_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    return app  # type: ignore[return-value]


def run_app(project: Path | None = None) -> int:
    from detector_app.ui.icons import app_icon
    from detector_app.ui.main_window import MainWindow

    app = ensure_application()
    app.setWindowIcon(app_icon())
    window = MainWindow(settings=app_settings(), project_path=project)
    window.show()
    return app.exec()
