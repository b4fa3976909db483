"""File › Open team project…: a PostgreSQL database URL, a password and this machine's path of the media root.

Connecting runs off the UI thread (an unreachable server takes up to the connect timeout), the dialog stays
open with the reason when it fails, and only the URL without its password and the media root are remembered:
the password is typed each time, or comes from libpq's password file (``~/.pgpass``), which is also how the
last team project is reopened at start-up without asking.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
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

from detector_app.storage.postgres import display_url, is_database_url, with_password, without_password
from detector_app.storage.project import Project
from detector_app.ui.workers import CallWorker, failure_message

URL_KEY = "team/url"  # without the password
MEDIA_ROOT_KEY = "team/media_root"
EXAMPLE_URL = "postgresql://USER@HOST:5432/DATABASE"


def open_team_project(url: str, password: str, media_root: str) -> Project:
    """The team project at ``url`` (``password`` replaces any password in it when given)."""
    return Project.open(with_password(url, password) if password else url, create=True, media_root=media_root)


class TeamProjectDialog(QDialog):
    """Emits ``opened(Project)`` once connected; the caller takes the project over."""

    opened = Signal(object)

    def __init__(self, parent: QWidget, settings: QSettings) -> None:
        super().__init__(parent)
        self.settings = settings
        self.worker: CallWorker | None = None
        self.cancelled = False
        self.setWindowTitle("Open team project")
        self.url = QLineEdit(str(settings.value(URL_KEY, "")))
        self.url.setPlaceholderText(EXAMPLE_URL)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("not stored; leave empty to use ~/.pgpass")
        self.media_root = QLineEdit(str(settings.value(MEDIA_ROOT_KEY, "")))
        self.media_root.setPlaceholderText("this computer's path of the shared image folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        root_row = QHBoxLayout()
        root_row.addWidget(self.media_root, 1)
        root_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Database URL", self.url)
        form.addRow("Password", self.password)
        form.addRow("Media root", root_row)
        hint = QLabel("A team project lives on a PostgreSQL server; its images stay in a shared folder that each "
                      "computer may mount at its own path.")
        hint.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.connect_to_server)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        for edit in (self.url, self.media_root):
            edit.textChanged.connect(self._update_button)
        self._update_button()
        self.resize(560, self.sizeHint().height())

    @property
    def open_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Open)

    def _update_button(self) -> None:
        self.open_button.setEnabled(bool(self.url.text().strip() and self.media_root.text().strip())
                                    and self.worker is None)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Media root of the team project", self.media_root.text())
        if folder:
            self.media_root.setText(folder)

    def connect_to_server(self) -> None:
        url, root = self.url.text().strip(), self.media_root.text().strip()
        if not is_database_url(url):
            self.status.setText(f"Give the database URL, for example {EXAMPLE_URL}.")
            return
        if not Path(root).expanduser().is_dir():
            self.status.setText(f"The media root {root} is not a folder on this computer (is the share mounted?).")
            return
        self.status.setText(f"Connecting to {display_url(url)}…")
        self.cancelled = False
        self.worker = CallWorker(lambda: open_team_project(url, self.password.text(), root))
        self.worker.returned.connect(self._connected)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._finished)
        self._update_button()
        self.worker.start()

    def _connected(self, project: Project) -> None:
        if self.cancelled:  # closed while connecting: nobody takes the project
            project.close()
            return
        self.settings.setValue(URL_KEY, without_password(self.url.text().strip()))
        self.settings.setValue(MEDIA_ROOT_KEY, self.media_root.text().strip())
        self.opened.emit(project)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.status.setText(failure_message("Could not open the team project", exc))

    def _finished(self) -> None:
        self.worker = None
        self._update_button()

    def reject(self) -> None:
        self.cancelled = self.worker is not None  # a connection under way: its project is closed when it arrives
        super().reject()
