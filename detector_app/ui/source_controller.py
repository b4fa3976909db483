"""The sources: open one and play it live with detection, pause and seek, capture frames into the project,
run detection over all of one, and the recent sources. An image folder is not played: its images join the
project and are stepped through one by one for labelling."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractSlider,
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMenu,
    QSlider,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from detector_app.core.detections import Detections
from detector_app.errors import DetectorAppError
from detector_app.plugins_api.sources import open_any_source
from detector_app.storage.project import Project
from detector_app.ui.actions import make_action
from detector_app.ui.batch import BatchRun, store_frame
from detector_app.ui.cameras import CameraChoice
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.detect_all_dialog import DetectAll
from detector_app.ui.filters import Filters
from detector_app.ui.icons import set_icon
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.live_status import LiveStatus
from detector_app.ui.live_view import LiveController
from detector_app.ui.messages import Messages
from detector_app.ui.model_controller import ModelController
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.workers import BackgroundTasks, CallWorker

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

log = logging.getLogger(__name__)

RECENT_SOURCES = 8
END_OF_VIDEO = "End of video: press Play to watch it again from the start, or drag the seek bar."


class SourceController(QObject):
    """Owns ``source_spec`` (what plays or played last) and the running ``batch``."""

    def __init__(self, window: QWidget, settings: QSettings, live: LiveController, canvas: AnnotationCanvas,
                 stack: QStackedWidget, webcam_combo: QComboBox, seek_slider: QSlider, status_rates: QLabel,
                 filters: Filters, projects: ProjectController, model: ModelController, images: ImagesController,
                 messages: Messages, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.settings, self.live, self.canvas, self.stack = window, settings, live, canvas, stack
        self.webcam_combo, self.seek_slider, self.status_rates = webcam_combo, seek_slider, status_rates
        self.filters, self.projects, self.model, self.images = filters, projects, model, images
        self.messages, self.tasks = messages, tasks
        self.source_spec: str | None = None
        self.batch: BatchRun | None = None
        self.detect_all = DetectAll(window, settings, projects, model, live, filters, messages, tasks)
        self.detect_all.started.connect(lambda run: setattr(self, "batch", run))
        self.detect_all.finished.connect(self._on_batch_finished)
        live.error.connect(messages.show_error)
        live.stats_changed.connect(self._on_live_stats)
        live.position_changed.connect(self._on_position)
        self.live_status = LiveStatus(window, settings, live, status_rates)  # rates twice a second, follow toggle
        self.act_follow = self.live_status.act_follow
        live.first_frame.connect(self._on_first_frame)
        live.ended.connect(self._on_ended)
        live.boxes_shown.connect(lambda specs: images.box_table.set_boxes(specs, None))
        self.status_note = QLabel(objectName="liveNote")  # why the view is empty: boxes below the threshold
        window.statusBar().addPermanentWidget(self.status_note)
        live.note_changed.connect(self.status_note.setText)
        live.stopped.connect(lambda: self.status_note.setText(""))
        self.cameras = CameraChoice(window, webcam_combo, settings, tasks)
        self._connecting: str | None = None  # the note shown while a stream connects
        seek_slider.sliderReleased.connect(lambda: live.seek(seek_slider.value()))
        seek_slider.actionTriggered.connect(self._on_seek_action)  # keys and clicks on the groove
        filters.changed.connect(self._on_filters_changed)
        model.detector_changed.connect(self._on_detector_changed)
        projects.closing.connect(live.stop)
        w = window
        self.act_webcam = make_action(w, "Webcam", self.start_webcam, tip="Start the selected webcam")
        self.act_video = make_action(w, "Open video…", self.choose_video, QKeySequence.StandardKey.Open)
        self.act_folder = make_action(w, "Open image folder…", self.choose_folder, "Ctrl+Shift+O")
        self.act_stream = make_action(w, "Open stream URL…", self.choose_stream, "Ctrl+U",
                                      "RTSP / HTTP / MJPEG (a source plugin)")
        self.act_stop = make_action(w, "Stop", self.stop_source, "Esc", "Stop the live source")
        self.act_play = make_action(w, "Pause", self.toggle_pause, "K", "Play / pause", checkable=True)
        self.act_capture = make_action(w, "Capture", self.capture_frame, "Space",
                                       "Capture the frame and its boxes into the project")
        self.act_batch = make_action(w, "Detect all…", self.run_batch, "Ctrl+B",
                                     "Detect on every frame or image of the source")
        # Disabled for a read-only project.
        self.edit_actions = (self.act_capture, self.act_batch)

    def set_project(self, project: Project) -> None:
        for act in self.edit_actions:
            act.setEnabled(not project.read_only)

    # opening and playing ----------------------------------------------------------------------------------
    def start_webcam(self) -> None:
        index = self.cameras.chosen()
        if index is not None:
            self.start_source(f"webcam:{index}")

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open video", self.settings.value("source/dir", ""),
                                              "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        if path:
            self.settings.setValue("source/dir", str(Path(path).parent))
            self.start_source(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open image folder",
                                                  self.settings.value("source/dir", ""))
        if folder:
            self.settings.setValue("source/dir", folder)
            self.start_source(folder)

    def choose_stream(self) -> None:
        url, ok = QInputDialog.getText(self.window, "Open stream", "Stream URL (rtsp://, http://…):",
                                       text=str(self.settings.value("source/url", "")))
        if ok and url.strip():
            self.settings.setValue("source/url", url.strip())
            self.start_source(url.strip())

    def start_source(self, spec: str) -> None:
        """Play ``spec`` (webcam, video, stream) with live detection when a model is loaded; an image folder
        becomes a labelling queue instead."""
        self.messages.clear()  # what the banner said about the previous source (no webcam, say) is stale now
        if Path(spec).is_dir():
            self.open_folder_queue(Path(spec))
            return
        self.images.leave()
        self.source_spec = spec
        self._remember_source(spec)
        self.stack.setCurrentWidget(self.canvas)
        self.toggle_pause(False)
        self.live.start(partial(open_any_source, spec), self.model.detector)
        self._connecting = None
        if "://" in spec:  # a stream can take many seconds to answer, or never
            self._connecting = f"Connecting to {_without_password(spec)}… (Stop or Esc cancels)"
            self.messages.show_info(self._connecting)
        elif self.model.detector is None:
            self.messages.show_info("Playing without detection: no model is loaded.", 6000)

    def _on_first_frame(self) -> None:
        if self._connecting is not None and self.messages.banner.text == self._connecting:
            self.messages.clear()
        self._connecting = None

    def _on_ended(self) -> None:
        """A video at its end: the button offers Play (from the start), seeking still works."""
        self.act_play.setChecked(True)
        self.toggle_pause(True)
        self.messages.show_info(END_OF_VIDEO)

    def open_folder_queue(self, folder: Path) -> None:
        """Add the folder's images to the project (off the UI thread: each file is read and hashed) and show
        the first; N / P step through them. Detect all… runs the model over the folder."""
        project = self.projects.project
        if project.read_only:
            self.messages.show_error("This project is read-only: an image folder cannot be added to it.")
            return
        self.live.stop()
        self.source_spec = str(folder)
        self._remember_source(str(folder))
        self.messages.show_info(f"Adding the images of {folder}…")
        worker = CallWorker(partial(project.repo.add_images_from_folder, folder))
        worker.returned.connect(partial(self._on_folder_added, folder))
        worker.errored.connect(lambda exc: self.messages.show_error(
            str(exc) if isinstance(exc, DetectorAppError) else f"cannot add {folder}: {exc}"))
        self.tasks.start(worker)

    def _on_folder_added(self, folder: Path, records: list) -> None:
        if not records:
            self.messages.show_error(f"No images in {folder} (looked for .jpg, .png, .bmp, .tif and .webp).")
            return
        self.images.refresh()
        if self.images.image_model.row_of(records[0].id) is None:  # e.g. already reviewed: not "to review"
            self.images.queue_combo.setCurrentIndex(self.images.queue_combo.findData("all"))
        self.images.show_image(records[0].id)
        self.messages.show_info(f"{len(records)} images of {folder.name} are in the project: step through them "
                                "with N / P (or → / ←), draw or accept boxes; Detect all… runs the model over "
                                "them.", 10_000)

    def _on_detector_changed(self, _detector: Detector) -> None:
        """A live source restarts with the new model."""
        restart = self.live.running and self.source_spec is not None
        self.live.stop()
        if restart:
            self.start_source(self.source_spec)

    def recent_sources(self) -> list[str]:
        value = self.settings.value("source/recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember_source(self, spec: str) -> None:
        recent = [spec] + [s for s in self.recent_sources() if s != spec]
        self.settings.setValue("source/recent", recent[:RECENT_SOURCES])

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        recent = self.recent_sources()
        if not recent:
            menu.addAction("Nothing opened yet").setEnabled(False)
        for spec in recent:
            menu.addAction(spec).triggered.connect(partial(self.start_source, spec))

    def stop_source(self) -> None:
        self.live.stop()
        if self._connecting is not None:
            self.messages.show_info("Stopped connecting.", 4000)
            self._connecting = None

    def toggle_pause(self, paused: bool) -> None:
        """The button shows what it will do (Play while paused); Play at the end of a video starts it again."""
        if not paused and self.live.at_end:
            self.live.seek(0)
            if self.messages.banner.text == END_OF_VIDEO:
                self.messages.clear()
        self.live.set_paused(paused)
        self.act_play.setChecked(paused)
        self.act_play.setText("Play" if paused else "Pause")
        set_icon(self.act_play, "play" if paused else "pause")

    def steady_play_button(self, bar: QToolBar) -> None:
        """The Play/Pause button keeps the width of its longer label, so the toolbar does not shift."""
        button = bar.widgetForAction(self.act_play)
        if button is None:
            return
        text = self.act_play.text()
        widths = []
        for label in ("Play", "Pause"):
            self.act_play.setText(label)
            widths.append(button.sizeHint().width())
        self.act_play.setText(text)
        button.setFixedWidth(max(widths))

    def _on_seek_action(self, action: int) -> None:
        if action != QAbstractSlider.SliderAction.SliderMove.value:  # a drag seeks when released
            QTimer.singleShot(0, self, lambda: self.live.seek(self.seek_slider.value()))  # the value moves after

    def _on_filters_changed(self) -> None:
        if self.live.running:
            self.live.redraw()

    def _on_position(self, index: int, count: int) -> None:
        self.seek_slider.setEnabled(count > 0)
        if count > 0 and not self.seek_slider.isSliderDown():
            self.seek_slider.setMaximum(int(count - 1))
            self.seek_slider.setValue(int(index))

    def _on_live_stats(self, capture_fps: float, inference_fps: float, latency_s: float) -> None:
        self.model.update_status()  # int8 calibration progresses with the frames (the rates: ui/live_status.py)

    # into the project -------------------------------------------------------------------------------------
    def capture_frame(self) -> None:
        """Space: store the newest frame that has a result, with the boxes shown on it, for review."""
        result = self.live.result
        frame = result.frame if result is not None else self.live.frame
        if frame is None:
            return
        shown = self.live.visible_detections() if result is not None else None
        stored = store_frame(self.projects.project.repo, frame, shown or Detections.empty(), self.model.version_id())
        self.images.refresh()
        if stored.left_alone:  # ui/batch.py: a labelled or reviewed image keeps its boxes and review state
            self.messages.show_info(f"Frame {frame.index} is already in the project with {stored.kept} boxes"
                                    f"{' (reviewed)' if stored.already_reviewed else ''}; kept as it is.", 6000)
        else:
            self.messages.show_info(f"Captured frame {frame.index} into the project with {stored.added} boxes to "
                                    "review.", 4000)
        log.info("captured image %s", stored.image_id)

    def run_batch(self) -> None:
        """Detect all…: asks what to run on first (ui/detect_all_dialog.py), then runs with a progress dialog."""
        self.detect_all.ask(self.source_spec)

    def _on_batch_finished(self, _completed: bool, _stored: int) -> None:
        self.batch = None  # the summary stays in the run's dialog and the banner (DetectAll)
        self.images.refresh()

    def close(self) -> None:
        """Stop the live source and cancel a batch; the window joins the batch's worker after this."""
        self.live.shutdown()
        if self.batch is not None:
            self.batch.cancel()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}{f':{parts.port}' if parts.port else ''}").geturl()
