"""Model › Correction report…: opens the report window (ui/report_window.py) for the project that is open, one at a
time; a project opened meanwhile closes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from detector_app.ui.actions import make_action
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.workers import BackgroundTasks

if TYPE_CHECKING:  # the window pulls in pyqtgraph and the training package (torch): imported when first opened
    from detector_app.ui.report_window import ReportWindow


class ReportController(QObject):
    """Owns ``act_report`` and the open ``report_window``."""

    def __init__(self, window: QWidget, projects: ProjectController, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.projects, self.tasks = window, projects, tasks
        self.report_window: ReportWindow | None = None
        self.act_report = make_action(window, "Correction report…", self.open_report, icon="versions",
                                      tip="What correcting each model version's predictions cost (accepted, "
                                          "adjusted, relabelled, rejected, missed boxes, seconds per image) "
                                          "beside its accuracy on the holdout")
        projects.opened.connect(self._on_project_opened)

    def open_report(self) -> ReportWindow | None:
        from detector_app.ui.report_window import ReportWindow  # pyqtgraph and torch: only once asked for

        project = self.projects.project
        if project is None:
            return None
        if self.report_window is None or self.report_window.project is not project:
            if self.report_window is not None:
                self.report_window.close()
            settings = getattr(self.window, "settings", None)  # the device the Model menu runs models on
            device = str(settings.value("model/device", "auto")) if settings is not None else "auto"
            self.report_window = ReportWindow(project, self.tasks, parent=self.window, device=device)
        else:
            self.report_window.refresh()  # reviews since it was opened count
        self.report_window.show()
        self.report_window.raise_()
        return self.report_window

    def _on_project_opened(self, _project: object) -> None:
        if self.report_window is not None:
            self.report_window.close()
            self.report_window = None
