"""The main window's sources: open and play them live, capture frames, run detection over all of one."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from detector_app.core.detections import Detections
from detector_app.plugins_api.sources import open_any_source
from detector_app.sources import Frame
from detector_app.ui.batch import BatchRun
from detector_app.ui.icons import set_icon

log = logging.getLogger(__name__)

RECENT_SOURCES = 8


class SourceActions:
    """Mixed into ``MainWindow`` (uses its settings, project, live view, canvas and image list)."""

    def start_webcam(self) -> None:
        self.start_source(f"webcam:{self.webcam_combo.currentIndex()}")

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self.settings.value("source/dir", ""),
                                              "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        if path:
            self.settings.setValue("source/dir", str(Path(path).parent))
            self.start_source(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open image folder", self.settings.value("source/dir", ""))
        if folder:
            self.settings.setValue("source/dir", folder)
            self.start_source(folder)

    def choose_stream(self) -> None:
        url, ok = QInputDialog.getText(self, "Open stream", "Stream URL (rtsp://, http://…):",
                                       text=str(self.settings.value("source/url", "")))
        if ok and url.strip():
            self.settings.setValue("source/url", url.strip())
            self.start_source(url.strip())

    def start_source(self, spec: str) -> None:
        """Play ``spec`` (webcam, video, folder) with live detection when a model is loaded."""
        self.review.leave()
        self.source_spec = spec
        self._remember_source(spec)
        self.stack.setCurrentWidget(self.canvas)
        self.act_play.setChecked(False)
        self.live.start(partial(open_any_source, spec), self.detector)
        if self.detector is None:
            self.banner.show_message("Playing without detection: no model is loaded.", "info", 6000)

    def recent_sources(self) -> list[str]:
        value = self.settings.value("source/recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember_source(self, spec: str) -> None:
        recent = [spec] + [s for s in self.recent_sources() if s != spec]
        self.settings.setValue("source/recent", recent[:RECENT_SOURCES])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_sources()
        if not recent:
            self.recent_menu.addAction("Nothing opened yet").setEnabled(False)
        for spec in recent:
            self.recent_menu.addAction(spec).triggered.connect(partial(self.start_source, spec))

    def stop_source(self) -> None:
        self.live.stop()

    def toggle_pause(self, paused: bool) -> None:
        self.live.set_paused(paused)
        self.act_play.setText("Play" if paused else "Pause")
        set_icon(self.act_play, "play" if paused else "pause")

    def _on_position(self, index: int, count: int) -> None:
        self.seek_slider.setEnabled(count > 0)
        if count > 0 and not self.seek_slider.isSliderDown():
            self.seek_slider.setMaximum(int(count - 1))
            self.seek_slider.setValue(int(index))

    def _on_live_stats(self, capture_fps: float, inference_fps: float, latency_s: float) -> None:
        self._update_model_status()  # int8 calibration progresses with the frames
        self.status_rates.setText(f"capture {capture_fps:.1f} fps · inference {inference_fps:.1f} fps · "
                                  f"latency {latency_s * 1000:.0f} ms")

    def capture_frame(self) -> None:
        """Space: store the newest frame that has a result, with the boxes shown on it, for review."""
        result = self.live.result
        frame = result.frame if result is not None else self.live.frame
        if frame is None:
            return
        shown = self.live.visible_detections() if result is not None else None
        image_id, n = self.store_frame(frame, shown or Detections.empty())
        self.refresh_image_list()
        self.refresh_classes()
        self.banner.show_message(f"Captured frame {frame.index} into the project with {n} boxes to review.",
                                 "info", 4000)
        log.info("captured image %s", image_id)

    def store_frame(self, frame: Frame, detections: Detections) -> tuple[int, int]:
        repo = self.project.repo
        if frame.kind == "image":
            image = repo.add_image(Path(frame.origin))
        else:
            image = repo.add_frame(frame.image, origin=frame.kind, video_path=frame.video_path,
                                   frame_index=frame.index)
        version = self.detector_version_id()
        added = repo.add_predictions(image.id, detections, model_version_id=version) if len(detections) else []
        return image.id, len(added)

    def detector_version_id(self) -> int | None:
        version = self.settings.value("model/version")
        return int(version) if version not in (None, "") else None

    def run_batch(self) -> None:
        if self.detector is None:
            self.show_error("Load a model first (Model menu) to run detection.")
            return
        if self.source_spec is None or self.source_spec.startswith("webcam"):
            self.show_error("Open a video or an image folder first; batch detection runs over all of it.")
            return
        self.live.stop()
        threshold = self.threshold()

        def store(frame: Frame, detections: Detections) -> None:
            self.store_frame(frame, detections.with_min_score(threshold))

        self.batch = BatchRun(self, partial(open_any_source, self.source_spec), self.detector, store)
        self.batch.error.connect(self.show_error)
        self.batch.finished.connect(self._on_batch_finished)

    def _on_batch_finished(self, completed: bool, stored: int) -> None:
        self.batch = None
        self.refresh_image_list()
        self.refresh_classes()
        verb = "Finished" if completed else "Stopped"
        self.banner.show_message(f"{verb}: {stored} frames stored with their predictions for review.", "info", 8000)
