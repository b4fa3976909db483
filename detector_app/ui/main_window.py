"""The main window: source bar on top, canvas in the middle, image list left, boxes and classes right.

The window lays out the widgets and composes the controllers that hold the behaviour, each given the
widgets and services it needs:
- ProjectController (project_controller.py): open/new project, COCO import, label export.
- ModelController (model_controller.py): the Model menu, loading weights in the background, versions.
- SourceController (source_controller.py): sources played live, capture, batch detection, recent sources.
- ImagesController (images_controller.py): the image list, review actions on the canvas, undo, classes.
Menus and toolbars are built in menus.py; a failure anywhere ends up in the banner through Messages.
Nothing here imports torch: the model starts loading on a background thread once the window is first painted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QListView,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from detector_app import __version__
from detector_app.storage.project import Project, default_project_path
from detector_app.ui.banner import Banner
from detector_app.ui.batch import BatchRun
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.errors_controller import ErrorsController
from detector_app.ui.filters import Filters
from detector_app.ui.icons import app_icon
from detector_app.ui.image_list import THUMB, ImageListModel
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.live_view import LiveController
from detector_app.ui.menus import build_menus, build_toolbars, build_video_menu, set_action_icons
from detector_app.ui.messages import Messages
from detector_app.ui.model_controller import ModelController
from detector_app.ui.panels import BoxTable, ClassHeader, ClassTable
from detector_app.ui.plugins_dialog import PluginsDialog
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.queue_order import QueueOrder
from detector_app.ui.report_controller import ReportController
from detector_app.ui.review_view import ReviewController
from detector_app.ui.shortcuts import ShortcutsSheet
from detector_app.ui.sliders import KeySlider
from detector_app.ui.source_controller import SourceController
from detector_app.ui.team_controller import TeamController
from detector_app.ui.theme import apply_saved_theme
from detector_app.ui.video_controller import VideoController
from detector_app.ui.video_timeline import VideoTimeline
from detector_app.ui.workers import BackgroundTasks

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector


FIRST_PAINT_WAIT_MS = 2000


def _delegate(controller: str, name: str) -> Any:
    """A read-only window attribute that is the named controller's attribute (an action, a method, state)."""
    return property(lambda window: getattr(getattr(window, controller), name), doc=f"{controller}.{name}")


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, project_path: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._model_load_pending = False  # True from the end of __init__ until the first model load starts
        apply_saved_theme(settings)  # before any icon is painted: icons take the theme's text colour
        self.setWindowIcon(app_icon())
        self.setWindowTitle(f"Detector {__version__}")
        self.resize(1280, 800)
        self.plugins_dialog: PluginsDialog | None = None
        self._build_widgets()
        self.threshold_slider.setValue(int(settings.value("view/threshold", 50, type=int)))

        self.tasks = BackgroundTasks()  # superqt workers of every controller, joined on close
        self.messages = Messages(self.banner)
        self.filters = Filters(self.threshold_slider, self.threshold_label, self.class_table)
        self.live = LiveController(self.canvas, self.filters.threshold, self.filters.class_filter)
        self.projects = ProjectController(self, settings, self.messages)
        self.model = ModelController(self, settings, self.projects, self.messages, self.status_model,
                                     self.status_device, self.tasks)
        self.images = ImagesController(self, self.canvas, self.stack, self.image_view, self.images_stack,
                                       self.images_empty, self.queue_combo, self.box_table, self.class_table,
                                       self.filters, self.live, self.messages)
        self.queue_order = QueueOrder(self, self.images, self.order_combo, self.messages, self.tasks)
        self.model.detector_changed.connect(lambda _d: self.queue_order.refresh_availability())
        self.errors = ErrorsController(self, self.projects, self.images, self.canvas, self.tasks)
        self.correction_report = ReportController(self, self.projects, self.tasks)
        self.sources = SourceController(self, settings, self.live, self.canvas, self.stack, self.webcam_combo,
                                        self.seek_slider, self.status_rates, self.filters, self.projects,
                                        self.model, self.images, self.messages, self.tasks)
        self.video = VideoController(self, settings, self.canvas, self.stack, self.timeline, self.images, self.live,
                                     self.model, self.filters, self.messages, self.tasks)  # a video as a task
        self.projects.closing.connect(self.video.close_project)
        self.team = TeamController(self, settings, self.images, self.messages, self.tasks)  # several annotators
        self.class_header.manage.clicked.connect(self.images.open_class_manager)
        self.projects.opened.connect(self._on_project_opened)
        self.projects.labels_imported.connect(self.images.refresh)

        set_action_icons(self.images, self.sources)
        self.theme_group = build_menus(self, settings, self.projects, self.sources, self.images, self.model,
                                       self.open_plugins_dialog, lambda: ShortcutsSheet(self).exec(),
                                       self.show_about, queue_actions=[self.queue_order.act_next_useful],
                                       analysis_actions=[self.errors.act_errors,
                                                         self.correction_report.act_report],
                                       team_actions=self.team.actions)
        build_toolbars(self, self.sources, self.images, self.webcam_combo, self.seek_slider)
        build_video_menu(self, self.video, self.sources)
        self._restore_layout()
        self.projects.open_project(project_path or Path(settings.value("project/last", str(default_project_path()))))
        if project_path is None:
            self.projects.reopen_team_project()
        self._model_load_pending = True
        QTimer.singleShot(0, self, self._load_model_when_painted)

    # the model loads after the first paint: importing torch would otherwise delay it by seconds ---------
    def _load_model_when_painted(self) -> None:
        """A window that is not shown (scripts, tests) loads its model at once; a shown one on its first paint,
        or after ``FIRST_PAINT_WAIT_MS`` if none comes (a minimised window)."""
        if self.isVisible():
            QTimer.singleShot(FIRST_PAINT_WAIT_MS, self, self._start_model_loading)
        else:
            self._start_model_loading()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._model_load_pending:
            QTimer.singleShot(0, self, self._start_model_loading)  # after this paint reaches the screen

    def _start_model_loading(self) -> None:
        if self._model_load_pending and not self.model.requested:  # not if a model was chosen or set meanwhile
            self.model.load_model()
        self._model_load_pending = False

    # layout ---------------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.canvas = AnnotationCanvas()
        self.banner = Banner()
        self.empty = QLabel("<h3>Nothing open yet</h3><p>Start the <b>webcam</b>, open a <b>video</b> or an "
                            "<b>image folder</b> from the toolbar,<br>or pick an image from the project list "
                            "on the left to review its boxes.</p><p>To label a video frame by frame: "
                            "<b>Label a video</b> (File menu).</p><p>Press <b>F1</b> for keyboard shortcuts.</p>")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("emptyState")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.canvas)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self.timeline = VideoTimeline()  # under the frame while a video task is shown (video_controller.py)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)

        self.queue_combo = QComboBox()
        self.order_combo = QComboBox()  # the "To review" list's order (queue_order.py)
        self.image_view = QListView()
        self.image_view.setUniformItemSizes(True)
        self.image_view.setIconSize(QSize(THUMB, THUMB))
        self.images_empty = QLabel("No images here yet.\n\nCapture live frames with Space, run Detect all… "
                                   "on a video or folder, or import a COCO dataset (File menu).")
        self.images_empty.setWordWrap(True)
        self.images_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.images_stack = QStackedWidget()
        self.images_stack.addWidget(self.image_view)
        self.images_stack.addWidget(self.images_empty)
        self._add_dock("Project images", Qt.DockWidgetArea.LeftDockWidgetArea,
                       [(self.queue_combo, 0), (self.order_combo, 0), (self.images_stack, 0)])

        self.threshold_slider = KeySlider()
        self.threshold_slider.setRange(0, 95)  # 0: every box the model found (untrained weights score ~0.01)
        self.threshold_slider.setValue(50)
        self.threshold_label = QLabel()
        self.box_table = BoxTable()
        self.class_table = ClassTable()
        self.class_header = ClassHeader(self.class_table)  # "Show all" clears the filter; "Manage…" classes
        self._add_dock("Boxes and classes", Qt.DockWidgetArea.RightDockWidgetArea,
                       [(self.threshold_label, 0), (self.threshold_slider, 0), (QLabel("Boxes on this image"), 0),
                        (self.box_table, 2), (self.class_header, 0), (self.class_table, 1)])

        self.webcam_combo = QComboBox()
        self.webcam_combo.setToolTip("Webcam device")
        self.seek_slider = KeySlider()
        self.seek_slider.setMaximumWidth(240)
        self.seek_slider.setEnabled(False)

        self.status_device = QLabel()
        self.status_model = QLabel("model: loading…")
        self.status_rates = QLabel()
        for label in (self.status_rates, self.status_model, self.status_device):
            self.statusBar().addPermanentWidget(label)

    def _add_dock(self, title: str, area: Qt.DockWidgetArea, widgets: list[tuple[QWidget, int]]) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        for widget, stretch in widgets:
            layout.addWidget(widget, stretch)
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(body)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)

    def _on_project_opened(self, project: Project) -> None:
        self.queue_order.set_project(project)  # first: the image list asks it for the order
        self.images.set_project(project)
        self.team.set_project(project)
        self.sources.set_project(project)
        self.video.set_project(project)
        self.setWindowTitle(f"Detector {__version__} — {project.path}{' (read-only)' if project.read_only else ''}")

    # settings and closing -------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        s = self.settings
        if s.value("window/geometry") is not None:
            self.restoreGeometry(s.value("window/geometry"))
        if s.value("window/state") is not None:
            self.restoreState(s.value("window/state"))

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/threshold", self.threshold_slider.value())
        s.setValue("model/fast", self.model.act_fast.isChecked())
        s.setValue("model/int8", self.model.act_int8.isChecked())

    def closeEvent(self, event: QCloseEvent) -> None:
        self._model_load_pending = False  # closed before its first paint: no model to load any more
        self._save_settings()
        self.sources.close()
        self.video.close_project()  # cancels a propagate before the workers are joined
        self.tasks.join()  # a model load or a cancelled batch: nothing may run on a closed project
        self.projects.close()
        self.settings.sync()
        super().closeEvent(event)

    # Tools and Help -------------------------------------------------------------------------------------
    def open_plugins_dialog(self) -> None:
        self.plugins_dialog = PluginsDialog(parent=self)
        self.plugins_dialog.show()

    def show_about(self) -> None:
        QMessageBox.about(self, "About Detector", f"<b>Detector {__version__}</b><p>RetinaNet detection and "
                          "annotation with SQLite projects and COCO export.</p>")

    # what scripts and tests drive: the controllers' state, actions and methods under the window's names -
    project: Project | None = _delegate("projects", "project")
    open_project = _delegate("projects", "open_project")
    export_labels = _delegate("projects", "export_labels")
    show_error = _delegate("messages", "show_error")
    detector: Detector | None = _delegate("model", "detector")
    set_detector = _delegate("model", "set_detector")
    load_model = _delegate("model", "load_model")
    choose_preset = _delegate("model", "choose_preset")
    _choose_model = _delegate("model", "_choose_model")
    activate_version = _delegate("model", "activate_version")
    open_train_dialog = _delegate("model", "open_train_dialog")
    train_dialog = _delegate("model", "train_dialog")
    act_int8 = _delegate("model", "act_int8")
    act_fast = _delegate("model", "act_fast")
    batch: BatchRun | None = _delegate("sources", "batch")
    start_source = _delegate("sources", "start_source")
    start_webcam = _delegate("sources", "start_webcam")
    stop_source = _delegate("sources", "stop_source")
    capture_frame = _delegate("sources", "capture_frame")
    run_batch = _delegate("sources", "run_batch")
    recent_sources = _delegate("sources", "recent_sources")
    act_stop = _delegate("sources", "act_stop")
    act_capture = _delegate("sources", "act_capture")
    review: ReviewController | None = _delegate("images", "review")
    image_model: ImageListModel | None = _delegate("images", "image_model")
    undo_stack = _delegate("images", "undo_stack")
    show_image = _delegate("images", "show_image")
    refresh_image_list = _delegate("images", "refresh_image_list")
    refresh_classes = _delegate("images", "refresh_classes")
    act_draw = _delegate("images", "act_draw")
    act_accept = _delegate("images", "act_accept")

    @property
    def source_spec(self) -> str | None:
        return self.sources.source_spec

    @source_spec.setter
    def source_spec(self, spec: str | None) -> None:
        self.sources.source_spec = spec
