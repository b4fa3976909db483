"""The main window: source bar on top, canvas in the middle, image list left, boxes and classes right."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QThread
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListView,
    QMainWindow,
    QMessageBox,
    QSlider,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from detector_app import __version__
from detector_app.detection.detector import Detector
from detector_app.errors import DetectorAppError
from detector_app.storage.project import Project, default_project_path
from detector_app.ui.banner import Banner
from detector_app.ui.batch import BatchRun
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.dialogs import ClassPicker, ExportDialog, ShortcutsDialog
from detector_app.ui.icons import app_icon, set_icon
from detector_app.ui.image_list import THUMB, ImageListModel
from detector_app.ui.live_view import LiveController
from detector_app.ui.model_menu import ModelMenu
from detector_app.ui.panels import BoxTable, ClassTable
from detector_app.ui.review_view import ReviewController, annotation_spec
from detector_app.ui.source_actions import SourceActions
from detector_app.ui.theme import add_theme_menu, apply_saved_theme
from detector_app.ui.workers import join_thread

log = logging.getLogger(__name__)

READ_ONLY_NOTE = "This project is read-only"
QUEUES = (("unreviewed", "To review"), ("all", "All images"), ("reviewed", "Reviewed"))


class MainWindow(ModelMenu, SourceActions, QMainWindow):
    """Layout, project, review and labels here; the Model menu and the sources in their mixins."""

    def __init__(self, settings: QSettings, project_path: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        apply_saved_theme(settings)  # before any icon is painted: icons take the theme's text colour
        self.setWindowIcon(app_icon())
        self.setWindowTitle(f"Detector {__version__}")
        self.resize(1280, 800)
        self.detector: Detector | None = None
        self.project: Project | None = None
        self.source_spec: str | None = None
        self.batch: BatchRun | None = None
        self._threads: list[QThread] = []
        self.undo_stack = QUndoStack(self)
        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._restore_settings()
        self.open_project(project_path or Path(settings.value("project/last", str(default_project_path()))))
        self.load_model()

    # layout ---------------------------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.canvas = AnnotationCanvas()
        self.banner = Banner()
        self.empty = QLabel("<h3>Nothing open yet</h3><p>Start the <b>webcam</b>, open a <b>video</b> or an "
                            "<b>image folder</b> from the toolbar,<br>or pick an image from the project list "
                            "on the left to review its boxes.</p><p>Press <b>F1</b> for keyboard shortcuts.</p>")
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
        self.setCentralWidget(central)
        self.live = LiveController(self.canvas, self.threshold, self.class_filter)
        self.live.error.connect(self.show_error)
        self.live.stats_changed.connect(self._on_live_stats)
        self.live.position_changed.connect(self._on_position)
        self.live.stopped.connect(lambda: self.status_rates.setText(""))

    def _build_docks(self) -> None:
        self.queue_combo = QComboBox()
        for key, text in QUEUES:
            self.queue_combo.addItem(text, key)
        self.queue_combo.currentIndexChanged.connect(lambda _i: self.refresh_image_list())
        self.image_view = QListView()
        self.image_view.setUniformItemSizes(True)
        self.image_view.setIconSize(QSize(THUMB, THUMB))
        self.image_view.clicked.connect(self._on_image_clicked)
        self.image_view.activated.connect(self._on_image_clicked)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(2, 2, 2, 2)
        self.images_empty = QLabel("No images here yet.\n\nCapture live frames with Space, run Detect all… "
                                   "on a video or folder, or import a COCO dataset (File menu).")
        self.images_empty.setWordWrap(True)
        self.images_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.images_stack = QStackedWidget()
        self.images_stack.addWidget(self.image_view)
        self.images_stack.addWidget(self.images_empty)
        left_layout.addWidget(self.queue_combo)
        left_layout.addWidget(self.images_stack)
        self._add_dock("Project images", left, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(5, 95)
        self.threshold_slider.setValue(50)
        self.threshold_label = QLabel()
        self.threshold_slider.valueChanged.connect(self._on_filters_changed)
        self.box_table = BoxTable()
        self.box_table.box_selected.connect(lambda key: self.canvas.select(key))
        self.canvas.selection_changed.connect(self.box_table.select_key)
        self.class_table = ClassTable()
        self.class_table.class_chosen.connect(lambda _name: self._on_filters_changed())
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(2, 2, 2, 2)
        right_layout.addWidget(self.threshold_label)
        right_layout.addWidget(self.threshold_slider)
        right_layout.addWidget(QLabel("Boxes on this image"))
        right_layout.addWidget(self.box_table, 2)
        right_layout.addWidget(QLabel("Classes (click to filter)"))
        right_layout.addWidget(self.class_table, 1)
        self._add_dock("Boxes and classes", right, Qt.DockWidgetArea.RightDockWidgetArea)
        self._on_filters_changed()

    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)

    def _action(self, text: str, slot, shortcut: str | QKeySequence | None = None, tip: str = "",  # noqa: ANN001
                checkable: bool = False, icon: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon:
            set_icon(action, icon)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or text} ({action.shortcut().toString()})" if shortcut else (tip or text))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work whatever widget has focus
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_webcam = a("Webcam", self.start_webcam, tip="Start the selected webcam")
        self.act_video = a("Open video…", self.choose_video, QKeySequence.StandardKey.Open)
        self.act_folder = a("Open image folder…", self.choose_folder, "Ctrl+Shift+O")
        self.act_stream = a("Open stream URL…", self.choose_stream, "Ctrl+U", "RTSP / HTTP / MJPEG (a source plugin)")
        self.act_stop = a("Stop", self.stop_source, "Esc", "Stop the live source")
        self.act_play = a("Pause", self.toggle_pause, "K", "Play / pause", checkable=True)
        self.act_capture = a("Capture", self.capture_frame, "Space", "Capture the frame and its boxes into the project")
        self.act_batch = a("Detect all…", self.run_batch, "Ctrl+B", "Detect on every frame or image of the source")
        self.act_draw = a("Draw box", self.toggle_draw, "D", checkable=True)
        self.act_accept = a("Accept", self.review_accept, "A")
        self.act_accept_enter = a("Accept (Enter)", self.review_accept, "Return")
        self.act_accept_all = a("Accept all", self.review_accept_all, "Shift+A")
        self.act_reject = a("Reject", self.review_reject, "R")
        self.act_delete = a("Delete box", self.review_delete, QKeySequence.StandardKey.Delete)
        self.act_relabel = a("Change class…", self.review_pick_class, "L")
        self.act_next = a("Next image", partial(self.step_image, 1), "N")
        self.act_next2 = a("Next image (→)", partial(self.step_image, 1), "Right")
        self.act_prev = a("Previous image", partial(self.step_image, -1), "P")
        self.act_prev2 = a("Previous image (←)", partial(self.step_image, -1), "Left")
        self.act_fit = a("Fit", self.canvas.fit, "F")
        self.act_undo = self.undo_stack.createUndoAction(self, "Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = self.undo_stack.createRedoAction(self, "Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addActions([self.act_undo, self.act_redo])
        for digit in range(1, 10):
            self._action(f"Class {digit}", partial(self.review_class_key, digit), str(digit))

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self._action("New project…", self.choose_new_project, QKeySequence.StandardKey.New,
                                         icon="new-project"))
        file_menu.addAction(self._action("Open project…", self.choose_project, "Ctrl+Shift+P", icon="open-project"))
        file_menu.addSeparator()
        file_menu.addActions([self.act_video, self.act_folder, self.act_stream])
        self.recent_menu = file_menu.addMenu("Recent sources")
        set_icon(self.recent_menu.menuAction(), "recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Import COCO…", self.import_coco, icon="import"))
        file_menu.addAction(self._action("Export labels…", self.export_labels, "Ctrl+E", icon="export"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", self.close, QKeySequence.StandardKey.Quit, icon="quit"))
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addActions([self.act_undo, self.act_redo])
        edit_menu.addSeparator()
        edit_menu.addActions([self.act_draw, self.act_accept, self.act_accept_all, self.act_reject,
                              self.act_delete, self.act_relabel])
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([self.act_fit, self.act_next, self.act_prev])
        view_menu.addSeparator()
        self.theme_group = add_theme_menu(view_menu, self.settings, self)
        self._build_model_menu()
        tools_menu = self.menuBar().addMenu("&Tools")
        tools_menu.addAction(self._action("Plugins…", self.open_plugins_dialog, icon="plugins"))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("Keyboard shortcuts", lambda: ShortcutsDialog(self).exec(), "F1",
                                         icon="help"))
        help_menu.addAction(self._action("About", self.show_about, icon="about"))

    def _set_icons(self) -> None:
        """Icons from resources/icons, one that says what each action does (see ui/icons.py)."""
        for action, name in (
            (self.act_webcam, "webcam"), (self.act_video, "open-video"), (self.act_folder, "open-folder"),
            (self.act_stream, "stream-url"), (self.act_stop, "stop"), (self.act_play, "pause"),
            (self.act_capture, "capture"), (self.act_batch, "detect-all"), (self.act_draw, "draw-box"),
            (self.act_accept, "accept"), (self.act_accept_enter, "accept"), (self.act_accept_all, "accept-all"),
            (self.act_reject, "reject"), (self.act_delete, "delete"), (self.act_relabel, "change-class"),
            (self.act_prev, "previous-image"), (self.act_prev2, "previous-image"), (self.act_next, "next-image"),
            (self.act_next2, "next-image"), (self.act_undo, "undo"), (self.act_redo, "redo"),
            (self.act_fit, "zoom-fit"),
        ):
            set_icon(action, name)

    def _build_toolbar(self) -> None:
        self._set_icons()
        bar = QToolBar("Sources")
        bar.setObjectName("sources")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(bar)
        self.webcam_combo = QComboBox()
        self.webcam_combo.addItems([f"Camera {i}" for i in range(4)])
        self.webcam_combo.setToolTip("Webcam device")
        bar.addWidget(self.webcam_combo)
        bar.addActions([self.act_webcam, self.act_video, self.act_folder, self.act_stop])
        bar.addSeparator()
        bar.addActions([self.act_play, self.act_capture, self.act_batch])
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        self.seek_slider.setMaximumWidth(240)
        self.seek_slider.setEnabled(False)
        self.seek_slider.sliderReleased.connect(lambda: self.live.seek(self.seek_slider.value()))
        bar.addWidget(self.seek_slider)
        review = QToolBar("Review")
        review.setObjectName("review")
        review.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.addToolBar(review)
        review.addActions([self.act_draw, self.act_accept, self.act_accept_all, self.act_reject, self.act_delete,
                           self.act_prev, self.act_next, self.act_undo, self.act_redo, self.act_fit])

    def _build_status_bar(self) -> None:
        self.status_device = QLabel()
        self.status_model = QLabel("model: loading…")
        self.status_rates = QLabel()
        for label in (self.status_rates, self.status_model, self.status_device):
            self.statusBar().addPermanentWidget(label)

    # settings -------------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        if s.value("window/geometry") is not None:
            self.restoreGeometry(s.value("window/geometry"))
        if s.value("window/state") is not None:
            self.restoreState(s.value("window/state"))
        self.threshold_slider.setValue(int(s.value("view/threshold", 50, type=int)))
        self.webcam_combo.setCurrentIndex(int(s.value("source/webcam", 0, type=int)))
        self.act_untrained.setChecked(s.value("model/weights", "default") == "none")

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/threshold", self.threshold_slider.value())
        s.setValue("source/webcam", self.webcam_combo.currentIndex())
        s.setValue("model/fast", self.act_fast.isChecked())
        s.setValue("model/int8", self.act_int8.isChecked())
        if self.project is not None:
            s.setValue("project/last", str(self.project.path))
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001
        self._save_settings()
        self.live.stop()
        if self.batch is not None:
            self.batch.cancel()
            self.batch.wait()
        for thread in self._threads:
            join_thread(thread)  # a model load: bounded, and Qt aborts if a running QThread is destroyed
        if self.project is not None:
            self.project.close()
        super().closeEvent(event)

    # filters --------------------------------------------------------------------------------------------
    def threshold(self) -> float:
        return self.threshold_slider.value() / 100.0

    def class_filter(self) -> set[str] | None:
        rows = self.class_table.selectionModel().selectedRows() if hasattr(self, "class_table") else []
        return {self.class_table.item(rows[0].row(), 1).text()} if rows else None

    def _on_filters_changed(self) -> None:
        self.threshold_label.setText(f"Score threshold: {self.threshold():.2f}")
        if not hasattr(self, "class_table"):
            return
        if self.live.running:
            self.live.redraw()
        if getattr(self, "review", None) is not None and self.review.image_id is not None:
            self.review.refresh()
        if self.queue_combo.currentData() and hasattr(self, "image_model"):
            self.refresh_image_list()

    # project --------------------------------------------------------------------------------------------
    def open_project(self, path: Path) -> None:
        try:
            project = Project.open(path, create=True)
        except DetectorAppError as exc:
            self.show_error(str(exc))
            if self.project is not None or path == default_project_path():
                return
            project = Project.open(default_project_path(), create=True)
        if self.project is not None:
            self.live.stop()
            self.project.close()
        self.project = project
        self.undo_stack.clear()
        self.review = ReviewController(self.canvas, project.repo, self.undo_stack, self.threshold, self.class_filter)
        self.review.changed.connect(self._on_review_changed)
        self.review.error.connect(self.show_error)
        # A read-only project has no thumbnail cache on disk (its folder may not be writable).
        self.image_model = ImageListModel(self._image_ids, project.repo.get_images,
                                          None if project.read_only else project.path / ".thumbnails", self)
        self.image_view.setModel(self.image_model)
        self._show_images_or_hint()
        self.refresh_classes()
        self.setWindowTitle(f"Detector {__version__} — {project.path}{' (read-only)' if project.read_only else ''}")
        self.settings.setValue("project/last", str(project.path))
        self._apply_read_only()

    def _apply_read_only(self) -> None:
        """A read-only project (read-only mount, no write permission): edits are disabled, and any change
        that still gets through is refused by the project with a message in the banner."""
        read_only = self.project is not None and self.project.read_only
        for act in (self.act_draw, self.act_accept, self.act_accept_enter, self.act_accept_all, self.act_reject,
                    self.act_delete, self.act_relabel, self.act_capture, self.act_batch):
            act.setEnabled(not read_only)
        if read_only:
            self.clear_banner()  # shows the note
        elif self.banner.text.startswith(READ_ONLY_NOTE):
            self.banner.hide()  # the previous project's note

    def _read_only_note(self) -> str:
        reason = self.project.read_only_reason if self.project is not None else None
        return f"{READ_ONLY_NOTE} ({reason}): you can browse, detect and export labels, but changes are not saved."

    def clear_banner(self) -> None:
        """Hide the banner; for a read-only project it goes back to saying so."""
        if self.project is not None and self.project.read_only:
            self.banner.show_message(self._read_only_note(), "info")
        else:
            self.banner.hide()

    def _image_ids(self) -> list[int]:
        return self.project.repo.image_ids(state=self.queue_combo.currentData() or "all",
                                           category=next(iter(self.class_filter() or []), None))

    def refresh_image_list(self) -> None:
        current = self.review.image_id
        self.image_model.refresh()
        self._show_images_or_hint()
        row = self.image_model.row_of(current) if current is not None else None
        if row is not None:
            self.image_view.setCurrentIndex(self.image_model.index(row))

    def _show_images_or_hint(self) -> None:
        empty = self.image_model.rowCount() == 0
        self.images_stack.setCurrentWidget(self.images_empty if empty else self.image_view)

    def refresh_classes(self) -> None:
        repo = self.project.repo
        counts = {name: sum(n for status, n in by_status.items() if status != "rejected")
                  for name, by_status in repo.class_counts().items()}
        names = [c.name for c in repo.categories()]
        from detector_app.core.draw import class_color

        self.class_table.set_classes(names, counts, {n: class_color(n) for n in names})

    def choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open project folder", str(self.project.path.parent))
        if folder:
            self.open_project(Path(folder))

    def choose_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new project")
        if folder:
            self.open_project(Path(folder))

    def open_plugins_dialog(self) -> None:
        from detector_app.ui.plugins_dialog import PluginsDialog

        dialog = PluginsDialog(parent=self)
        dialog.show()
        self.plugins_dialog = dialog

    # review ---------------------------------------------------------------------------------------------
    def _on_image_clicked(self, index) -> None:  # noqa: ANN001
        image_id = self.image_model.data(index, ImageListModel.ImageIdRole)
        if image_id is not None:
            self.show_image(int(image_id))

    def show_image(self, image_id: int) -> None:
        self.live.stop()
        self.stack.setCurrentWidget(self.canvas)
        self.review.show_image(image_id)
        row = self.image_model.row_of(image_id)
        if row is not None:
            self.image_view.setCurrentIndex(self.image_model.index(row))

    def step_image(self, step: int) -> None:
        rows = self.image_model.rowCount()
        if not rows:
            return
        current = self.image_model.row_of(self.review.image_id) if self.review.image_id is not None else None
        row = 0 if current is None else min(max(current + step, 0), rows - 1)
        self.show_image(self.image_model.image_id(row))

    def _on_review_changed(self) -> None:
        specs = [annotation_spec(a) for a in self.review.annotations]
        self.box_table.set_boxes(specs, self.canvas.selected_key())
        self.refresh_classes()

    def _reviewing(self) -> bool:
        return self.review.image_id is not None and not self.live.running

    def toggle_draw(self, on: bool) -> None:
        self.canvas.set_draw_mode(on and self._reviewing())
        self.act_draw.setChecked(self.canvas.draw_mode)

    def review_accept(self) -> None:
        if self._reviewing():
            self.review.accept_selected()

    def review_accept_all(self) -> None:
        if self._reviewing():
            self.review.accept_all()

    def review_reject(self) -> None:
        if self._reviewing():
            self.review.reject_selected()

    def review_delete(self) -> None:
        if self._reviewing():
            self.review.delete_selected()

    def review_class_key(self, digit: int) -> None:
        names = [c.name for c in self.project.repo.categories()]
        if self._reviewing() and digit <= len(names):
            self.review.relabel_selected(names[digit - 1])

    def review_pick_class(self) -> None:
        if not self._reviewing():
            return
        names = [c.name for c in self.project.repo.categories()]
        picker = ClassPicker(names, parent=self)
        if picker.exec() and picker.chosen():
            self.review.relabel_selected(picker.chosen())

    # import / export ------------------------------------------------------------------------------------
    def import_coco(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "COCO annotations", "", "COCO JSON (*.json)")
        if not path:
            return
        images = QFileDialog.getExistingDirectory(self, "Folder with the COCO images", str(Path(path).parent))
        if not images:
            return
        from detector_app.export.coco import import_coco

        try:
            report = import_coco(self.project.repo, Path(path), Path(images))
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return
        self.refresh_image_list()
        self.refresh_classes()
        self.banner.show_message(f"Imported {report}", "info", 8000)

    def export_labels(self) -> None:
        from detector_app.export.registry import exporter_names, get_exporter

        dialog = ExportDialog(exporter_names(), self)
        if not dialog.exec():
            return
        fmt, scope, copy_images = dialog.options()
        folder = QFileDialog.getExistingDirectory(self, f"Export {fmt} into folder")
        if not folder or not self._may_export_into(Path(folder)):
            return
        try:
            out = get_exporter(fmt)(self.project.repo, Path(folder), scope=scope, copy_images=copy_images)
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return
        self.banner.show_message(f"Exported {fmt} labels to {out}", "info", 8000)

    def _may_export_into(self, folder: Path) -> bool:
        """A folder the export would refuse is reported; replacing a previous export is asked first."""
        from detector_app.export.target import check_target

        try:
            previous = check_target(folder)
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return False
        if previous is None:
            return True
        answer = QMessageBox.question(
            self, "Replace the previous export?",
            f"{folder} holds a {previous.format} export from {previous.created or 'an earlier run'}.\n\n"
            "Replace it? Only the files that export wrote are replaced; files you added are kept.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    # messages -------------------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        log.warning("%s", message)
        self.banner.show_message(message, "error")

    def show_about(self) -> None:
        QMessageBox.about(self, "About Detector", f"<b>Detector {__version__}</b><p>RetinaNet detection and "
                          "annotation with SQLite projects and COCO export.</p>")
