"""The sources: open one and play it live with detection, pause and seek, capture frames into the project,
run detection over all of one, and the recent sources."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMenu,
    QSlider,
    QStackedWidget,
    QWidget,
)

from detector_app.core.detections import Detections
from detector_app.plugins_api.sources import open_any_source
from detector_app.sources import Frame
from detector_app.storage.project import Project
from detector_app.ui.actions import make_action
from detector_app.ui.batch import BatchRun
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.filters import Filters
from detector_app.ui.icons import set_icon
from detector_app.ui.images_controller import ImagesController
from detector_app.ui.live_view import LiveController
from detector_app.ui.messages import Messages
from detector_app.ui.model_controller import ModelController
from detector_app.ui.project_controller import ProjectController
from detector_app.ui.workers import BackgroundTasks

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector

log = logging.getLogger(__name__)

RECENT_SOURCES = 8


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
        live.error.connect(messages.show_error)
        live.stats_changed.connect(self._on_live_stats)
        live.position_changed.connect(self._on_position)
        live.stopped.connect(lambda: status_rates.setText(""))
        seek_slider.sliderReleased.connect(lambda: live.seek(seek_slider.value()))
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
        self.start_source(f"webcam:{self.webcam_combo.currentIndex()}")

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
        """Play ``spec`` (webcam, video, folder) with live detection when a model is loaded."""
        self.images.leave()
        self.source_spec = spec
        self._remember_source(spec)
        self.stack.setCurrentWidget(self.canvas)
        self.act_play.setChecked(False)
        self.live.start(partial(open_any_source, spec), self.model.detector)
        if self.model.detector is None:
            self.messages.show_info("Playing without detection: no model is loaded.", 6000)

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

    def toggle_pause(self, paused: bool) -> None:
        self.live.set_paused(paused)
        self.act_play.setText("Play" if paused else "Pause")
        set_icon(self.act_play, "play" if paused else "pause")

    def _on_filters_changed(self) -> None:
        if self.live.running:
            self.live.redraw()

    def _on_position(self, index: int, count: int) -> None:
        self.seek_slider.setEnabled(count > 0)
        if count > 0 and not self.seek_slider.isSliderDown():
            self.seek_slider.setMaximum(int(count - 1))
            self.seek_slider.setValue(int(index))

    def _on_live_stats(self, capture_fps: float, inference_fps: float, latency_s: float) -> None:
        self.model.update_status()  # int8 calibration progresses with the frames
        self.status_rates.setText(f"capture {capture_fps:.1f} fps · inference {inference_fps:.1f} fps · "
                                  f"latency {latency_s * 1000:.0f} ms")

    # into the project -------------------------------------------------------------------------------------
    def capture_frame(self) -> None:
        """Space: store the newest frame that has a result, with the boxes shown on it, for review."""
        result = self.live.result
        frame = result.frame if result is not None else self.live.frame
        if frame is None:
            return
        shown = self.live.visible_detections() if result is not None else None
        image_id, n = self.store_frame(frame, shown or Detections.empty())
        self.images.refresh()
        self.messages.show_info(f"Captured frame {frame.index} into the project with {n} boxes to review.", 4000)
        log.info("captured image %s", image_id)

    def store_frame(self, frame: Frame, detections: Detections) -> tuple[int, int]:
        repo = self.projects.project.repo
        if frame.kind == "image":
            image = repo.add_image(Path(frame.origin))
        else:
            image = repo.add_frame(frame.image, origin=frame.kind, video_path=frame.video_path,
                                   frame_index=frame.index)
        version = self.model.version_id()
        added = repo.add_predictions(image.id, detections, model_version_id=version) if len(detections) else []
        return image.id, len(added)

    def run_batch(self) -> None:
        detector = self.model.detector
        if detector is None:
            self.messages.show_error("Load a model first (Model menu) to run detection.")
            return
        if self.source_spec is None or self.source_spec.startswith("webcam"):
            self.messages.show_error("Open a video or an image folder first; batch detection runs over all of it.")
            return
        self.live.stop()
        threshold = self.filters.threshold()

        def store(frame: Frame, detections: Detections) -> None:
            self.store_frame(frame, detections.with_min_score(threshold))

        self.batch = BatchRun(self.window, self.tasks, partial(open_any_source, self.source_spec), detector, store)
        self.batch.error.connect(self.messages.show_error)
        self.batch.finished.connect(self._on_batch_finished)

    def _on_batch_finished(self, completed: bool, stored: int) -> None:
        self.batch = None
        self.images.refresh()
        verb = "Finished" if completed else "Stopped"
        self.messages.show_info(f"{verb}: {stored} frames stored with their predictions for review.", 8000)

    def close(self) -> None:
        """Stop the live source and cancel a batch; the window joins the batch's worker after this."""
        self.live.stop()
        if self.batch is not None:
            self.batch.cancel()
