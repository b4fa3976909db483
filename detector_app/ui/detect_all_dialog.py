"""Detect all…: first ask what to run on (the open image folder, the open video, or the project's images still
waiting for a model), with counts and a time estimate from the measured speed, and which frames to keep; then
run it (ui/batch.py) with a progress dialog that ends in a summary."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from detector_app.errors import DetectorAppError
from detector_app.plugins_api.sources import open_any_source
from detector_app.sources import FrameSource
from detector_app.sources.images import list_images
from detector_app.storage.repository import Repository
from detector_app.ui.batch import BatchRun, format_duration, project_images_source
from detector_app.ui.filters import Filters
from detector_app.ui.live_view import LiveController
from detector_app.ui.messages import Messages
from detector_app.ui.workers import BackgroundTasks

if TYPE_CHECKING:
    from detector_app.ui.model_controller import ModelController
    from detector_app.ui.project_controller import ProjectController

FPS_KEY = "detect/fps"  # the speed last measured by a run, for the next estimate


@dataclass(frozen=True)
class Target:
    """Something Detect all can run over: ``kind`` folder, video or project; ``count`` frames (None: unknown)."""

    kind: str
    title: str
    count: int | None
    spec: str | None = None  # the source to open (folder or video)
    image_ids: tuple[int, ...] = ()  # the project's images (kind project)
    repo: Repository | None = None
    problem: str | None = None  # why it cannot be chosen

    def open(self) -> FrameSource:
        if self.kind == "project":  # on the run's worker thread: paths are read there, not in the dialog
            return project_images_source([image.path for image in self.repo.get_images(list(self.image_ids))])
        return open_any_source(self.spec)


def source_target(spec: str | None) -> Target | None:
    """The open folder or video file as a target (None for nothing open, a webcam or a stream)."""
    if not spec or spec.startswith("webcam") or "://" in spec:
        return None
    path = Path(spec)
    if path.is_dir():
        count = len(list_images(path))
        return Target("folder", f"Image folder {path}", count, spec,
                      problem=None if count else "holds no images")
    try:
        with open_any_source(spec) as source:
            count = source.frame_count
    except DetectorAppError as exc:
        return Target("video", f"Video {path.name}", None, spec, problem=str(exc))
    return Target("video", f"Video {path.name}", count, spec)


def project_target(repo: Repository) -> Target:
    """The project's images not reviewed yet and without any box: those waiting for a model. One query per
    class, not one per image (5000 images: 9 s the other way). An image with only rejected boxes counts as
    waiting here; storing then leaves it alone (``store_frame``)."""
    with_boxes: set[int] = set()
    for category in repo.categories():
        with_boxes.update(repo.image_ids(state="unreviewed", category=category.id))
    waiting_ids = [i for i in repo.image_ids(state="unreviewed") if i not in with_boxes]
    return Target("project", "Project images not yet reviewed and without boxes", len(waiting_ids),
                  image_ids=tuple(waiting_ids), repo=repo, problem=None if waiting_ids else "none waiting")


def estimate(count: int | None, fps: float | None) -> str:
    if not count:
        return "Time: unknown (the number of frames is not known)." if count is None else ""
    if not fps:
        return f"{count} frames. Time: unknown until the model has run on a frame (play the source first)."
    return f"{count} frames, about {format_duration(count / fps)} at {fps:.1f} frames/s measured."


class DetectAllDialog(QDialog):
    """The choice of target and of which frames to store; ``chosen()`` after it was accepted."""

    def __init__(self, targets: list[Target], fps: float | None, threshold: float,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Detect all")
        self.targets, self.fps = targets, fps
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Run the model on:"))
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        for index, target in enumerate(targets):
            count = "?" if target.count is None else str(target.count)
            text = f"{target.title} ({count} {'images' if target.kind != 'video' else 'frames'})"
            radio = QRadioButton(text + (f" – {target.problem}" if target.problem else ""))
            radio.setObjectName(f"target_{target.kind}")
            radio.setEnabled(target.problem is None)
            self.group.addButton(radio, index)
            self.radios[target.kind] = radio
            layout.addWidget(radio)
        self.only_detections = QCheckBox(f"Store only frames with detections (score ≥ {threshold:.2f})")
        self.only_detections.toggled.connect(self._touched)
        self._user_set = False
        layout.addWidget(self.only_detections)
        self.estimate = QLabel(wordWrap=True)
        layout.addWidget(self.estimate)
        layout.addWidget(QLabel("Images already labelled or reviewed keep their boxes."))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.start_button.setText("Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.group.idToggled.connect(self._on_target)
        usable = [i for i, t in enumerate(targets) if t.problem is None]
        if usable:
            self.group.button(usable[0]).setChecked(True)
        self._on_target()

    def _touched(self) -> None:
        self._user_set = True

    def _on_target(self, *_args: object) -> None:
        target = self.target()
        self.start_button.setEnabled(target is not None)
        if target is None:
            self.estimate.setText("Nothing to run on: open a video or an image folder first.")
            return
        if not self._user_set:  # a video's frames are mostly alike: by default only those with boxes are kept
            self.only_detections.blockSignals(True)
            self.only_detections.setChecked(target.kind == "video")
            self.only_detections.blockSignals(False)
        self.estimate.setText(estimate(target.count, self.fps))

    def target(self) -> Target | None:
        index = self.group.checkedId()
        return self.targets[index] if index >= 0 else None


class DetectAll(QObject):
    """Asks (``DetectAllDialog``), then runs ``batch``; ``finished(completed, stored)`` when a run ends."""

    started = Signal(object)  # BatchRun
    finished = Signal(bool, int)

    def __init__(self, window: QWidget, settings: QSettings, projects: ProjectController, model: ModelController,
                 live: LiveController, filters: Filters, messages: Messages, tasks: BackgroundTasks) -> None:
        super().__init__(window)
        self.window, self.settings, self.projects, self.model = window, settings, projects, model
        self.live, self.filters, self.messages, self.tasks = live, filters, messages, tasks
        self.dialog: DetectAllDialog | None = None
        self.batch: BatchRun | None = None
        self.last_run: BatchRun | None = None
        self._live_fps: float | None = None
        live.stats_changed.connect(self._on_live_stats)

    def _on_live_stats(self, _capture_fps: float, inference_fps: float, _latency_s: float) -> None:
        if inference_fps > 0:
            self._live_fps = float(inference_fps)

    def measured_fps(self) -> float | None:
        """The live view's inference rate, else the rate of the last run (kept in the settings)."""
        if self._live_fps:
            return self._live_fps
        fps = float(self.settings.value(FPS_KEY, 0.0, type=float) or 0.0)
        return fps or None

    def ask(self, source_spec: str | None) -> None:
        if self.model.detector is None:
            self.messages.show_error("Load a model first (Model menu) to run detection.")
            return
        if self.batch is not None:
            self.messages.show_error("Detect all is already running; cancel it first.")
            return
        targets = [t for t in (source_target(source_spec), project_target(self.projects.project.repo)) if t]
        if self.dialog is not None:
            self.dialog.deleteLater()  # the previous question's dialog, long answered
        self.dialog = DetectAllDialog(targets, self.measured_fps(), self.filters.threshold(), self.window)
        self.dialog.accepted.connect(partial(self._start, self.dialog))
        self.dialog.open()  # window-modal, without blocking: tests and scripts drive it like a person

    def _start(self, dialog: DetectAllDialog) -> None:
        target = dialog.target()
        if target is None:
            return
        self.live.stop()
        if self.last_run is not None:  # the previous run's summary goes when a new run starts
            self.last_run.dialog.hide()
            self.last_run.dialog.deleteLater()
            self.last_run.deleteLater()
            self.last_run = None
        project = self.projects.project
        self.batch = BatchRun(self.window, self.tasks, target.open, self.model.detector, project.repo,
                              self.model.version_id(), self.filters.threshold(),
                              dialog.only_detections.isChecked(), what=target.title.lower())
        self.batch.error.connect(self.messages.show_error)
        self.batch.finished.connect(self._on_finished)
        self.started.emit(self.batch)

    def _on_finished(self, completed: bool, stored: int) -> None:
        run, self.batch, self.last_run = self.batch, None, self.batch
        if run is not None:
            if run.rate > 0:
                self.settings.setValue(FPS_KEY, run.rate)
                self._live_fps = None  # the newer measurement, and with the same model
            self.messages.show_info(run.summary().splitlines()[0], 8000)
        self.finished.emit(completed, stored)

    def cancel(self) -> None:
        if self.batch is not None:
            self.batch.cancel()
