"""The open project: opening and creating one, and labels in and out of it (import, export).

The import and export dialogs open window-modal without blocking (``open``): the work runs when one is
accepted, so a test drives them like a person does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from detector_app.errors import DetectorAppError
from detector_app.storage.project import Project, default_project_path
from detector_app.transfer.exporting import check_destination, export_labels
from detector_app.transfer.formats import format_names
from detector_app.transfer.importing import import_labels, import_message
from detector_app.ui.actions import make_action
from detector_app.ui.dialogs import ImportDialog
from detector_app.ui.export_dialog import ExportDialog, ExportDoneDialog
from detector_app.ui.messages import Messages
from detector_app.ui.team_project_dialog import MEDIA_ROOT_KEY, URL_KEY, TeamProjectDialog, open_team_project
from detector_app.ui.workers import CallWorker, failure_message

LAST_WAS_TEAM_KEY = "project/last_was_team"


class ProjectController(QObject):
    """Owns ``project``; says ``closing`` before the open one closes and ``opened`` with the new one."""

    closing = Signal()
    opened = Signal(object)  # Project
    labels_imported = Signal()

    def __init__(self, window: QWidget, settings: QSettings, messages: Messages) -> None:
        super().__init__(window)
        self.window, self.settings, self.messages = window, settings, messages
        self.project: Project | None = None
        self.import_dialog: ImportDialog | None = None
        self.export_dialog: ExportDialog | None = None
        self.export_done: ExportDoneDialog | None = None
        self.act_new = make_action(window, "New project…", self.choose_new_project, QKeySequence.StandardKey.New,
                                   icon="new-project")
        self.act_open = make_action(window, "Open project…", self.choose_project, "Ctrl+Shift+P", icon="open-project")
        self.act_open_team = make_action(window, "Open team project…", self.choose_team_project,
                                         tip="A project on a PostgreSQL server, shared by a labelling team",
                                         icon="open-team-project")
        self.team_dialog: TeamProjectDialog | None = None
        self.reconnect: CallWorker | None = None
        # Read before the folder project opened at start-up overwrites it.
        self.last_was_team = settings.value(LAST_WAS_TEAM_KEY, False, type=bool) is True
        self.act_import_coco = make_action(window, "Import labels…", self.import_coco, icon="import")
        self.act_export = make_action(window, "Export labels…", self.export_labels, "Ctrl+E", icon="export")

    def open_project(self, path: Path) -> None:
        """Open (or create) the project at ``path``; one that cannot be opened keeps the current one."""
        try:
            project = Project.open(path, create=True)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            if self.project is not None or path == default_project_path():
                return
            project = Project.open(default_project_path(), create=True)
        self.adopt(project)

    def adopt(self, project: Project) -> None:
        """Make ``project`` (opened by the caller) the open one, closing the previous one."""
        if self.project is not None:
            self.closing.emit()
            self.project.close()
        self.project = project
        if project.url is None:
            self.settings.setValue("project/last", str(project.path))
        self.settings.setValue(LAST_WAS_TEAM_KEY, project.url is not None)
        self.messages.set_read_only(project.read_only, project.read_only_reason)
        self.opened.emit(project)

    def choose_team_project(self) -> None:
        if self.team_dialog is not None and self.team_dialog.worker is not None:  # still connecting
            self.team_dialog.open()
            return
        _discard(self.team_dialog)
        self.team_dialog = TeamProjectDialog(self.window, self.settings)
        self.team_dialog.opened.connect(self.adopt)
        self.team_dialog.open()

    def reopen_team_project(self) -> None:
        """At start-up, reconnect in the background to the team project open last time (its password from
        ~/.pgpass); the folder project stays open if that fails."""
        url, root = str(self.settings.value(URL_KEY, "")), str(self.settings.value(MEDIA_ROOT_KEY, ""))
        if not (self.last_was_team and url and root):
            return
        self.reconnect = CallWorker(lambda: open_team_project(url, "", root))
        self.reconnect.returned.connect(self.adopt)
        self.reconnect.errored.connect(lambda exc: self.messages.show_error(
            f"{failure_message('Could not reopen the team project', exc)} (File › Open team project…)"))
        self.reconnect.start()

    def close(self) -> None:
        if self.project is not None:
            self.settings.setValue("project/last", str(self.project.path))
            self.project.close()

    def choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open project folder", str(self.project.path.parent))
        if folder:
            self.open_project(Path(folder))

    def choose_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Choose an empty folder for the new project")
        if folder:
            self.open_project(Path(folder))

    # labels in and out ---------------------------------------------------------------------------------
    def import_coco(self) -> None:
        """File › Import labels…: any format that can import (COCO and plugins), last choices remembered."""
        _discard(self.import_dialog)
        self.import_dialog = ImportDialog(format_names("import"), self.settings, self.window)
        self.import_dialog.accepted.connect(self._import_accepted)
        self.import_dialog.open()

    def _import_accepted(self) -> None:
        dialog = self.import_dialog
        dialog.remember()
        fmt, path, images = dialog.chosen()
        try:
            report = import_labels(self.project.repo, fmt, path, images)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return
        self.labels_imported.emit()
        self.messages.show_info(import_message(report), 8000)

    def export_labels(self) -> None:
        """File › Export labels…: the dialog shows and checks the destination; the export runs on Export."""
        _discard(self.export_dialog)
        self.export_dialog = ExportDialog(format_names("export"), self.settings, self.window)
        self.export_dialog.accepted.connect(self._export_accepted)
        self.export_dialog.open()

    def _export_accepted(self) -> None:
        dialog = self.export_dialog
        fmt, scope, copy_images = dialog.options()
        folder = dialog.destination()
        if not self._may_export_into(folder):
            return
        dialog.remember()
        try:
            out = export_labels(self.project.repo, fmt, folder, scope=scope, copy_images=copy_images)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return
        self.messages.show_info(f"Exported {fmt} labels to {folder}", 8000)
        _discard(self.export_done)
        self.export_done = ExportDoneDialog(folder, out, fmt, self.window)
        self.export_done.show()  # stays until closed; Open folder shows the files

    def _may_export_into(self, folder: Path) -> bool:
        """A folder the export would refuse is reported; replacing a previous export is asked first."""
        try:
            previous = check_destination(folder)
        except DetectorAppError as exc:
            self.messages.show_error(str(exc))
            return False
        if previous is None:
            return True
        answer = QMessageBox.question(
            self.window, "Replace the previous export?",
            f"{folder} holds a {previous.format} export from {previous.created or 'an earlier run'}.\n\n"
            "Replace it? Only the files that export wrote are replaced; files you added are kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes


def _discard(dialog: QWidget | None) -> None:
    """The previous dialog of a kind goes when a new one opens (each is a child of the window until then)."""
    if dialog is not None:
        dialog.hide()
        dialog.deleteLater()
