"""The Train dialog: settings, a run in a separate process with live progress, then before/after.

The run itself is ``training.background.TrainingRunner`` (a spawned process); a QTimer polls its event
queue, so the GUI thread never waits on training. ``version_activated(int)`` tells the main window
to switch its detector to the activated version.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from detector_app.errors import DetectorAppError
from detector_app.storage import Project
from detector_app.training.background import TrainingRunner
from detector_app.training.choices import StartChoice, default_choice, start_choices, training_examples
from detector_app.training.events import (
    EpochDone,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepDone,
    TrainEvent,
    TrainResult,
)
from detector_app.training.recipe import schedule_summary
from detector_app.training.settings import FREEZE_LEVELS, TrainSettings
from detector_app.ui.batch import format_duration
from detector_app.ui.train_classes import ClassList
from detector_app.ui.train_plot import TrainPlot
from detector_app.ui.train_table import ComparisonTable

POLL_MS = 100
KEY = "train/"  # the form's choices in the app's settings: the next dialog (and the next session) starts there


class TrainDialog(QDialog):
    """``TrainDialog(project_path, current_model_name, parent, settings)``; non-modal, owns at most one run.

    A field the user set (input size, what to train) is never changed behind their back: choosing another
    start point keeps it and says what that start point would use; a field not set follows the start point
    and the note says so."""

    version_activated = Signal(int)
    run_finished = Signal(object)  # TrainResult (finished or cancelled)

    def __init__(self, project_path: Path, current_model_name: str | None = None,
                 parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.app_settings = settings
        self.setWindowTitle("Train on reviewed labels")
        self.project_path = Path(project_path)
        self.current_model_name = current_model_name
        self.runner: TrainingRunner | None = None
        self.result: TrainResult | None = None
        # Settings the form does not show (batch size, threads, learning rate...), by TrainSettings field.
        self.extra_settings: dict[str, object] = {}
        self._timer = QTimer(self, interval=POLL_MS, timeout=self._poll)
        self.user_set: set[str] = set()  # "size", "freeze": fields the user chose (kept across start points)
        self._quiet = False  # True while the dialog itself sets a field
        self.train_images = 0  # in the training split, as the run will split: the schedule depends on it
        self._build()
        self._restore()
        self.reload_project()

    # --- layout -----------------------------------------------------------------------------------

    def _build(self) -> None:
        self.current_label = QLabel(f"Current model: {self.current_model_name or 'none'}")
        self.start_from = QComboBox(objectName="startFrom")
        self.start_from.currentIndexChanged.connect(self._start_choice_changed)
        self.start_note = QLabel(objectName="startNote", wordWrap=True)
        self.class_list = ClassList()
        self.classes = self.class_list.list
        # 0 = auto: the recipe chooses the epochs from the number of training images (training/recipe.py).
        self.epochs = QSpinBox(objectName="epochs", minimum=0, maximum=500, value=0,
                               specialValueText="auto (from the set size)")
        self.minutes = QSpinBox(objectName="minutes", minimum=0, maximum=24 * 60, value=0, suffix=" min",
                                specialValueText="none", toolTip="The run is shortened to end within this time")
        self.schedule = QLabel(objectName="schedule", wordWrap=True)  # the recipe's choices (training/recipe.py)
        self.size = QSpinBox(objectName="size", minimum=64, maximum=1344, singleStep=32, value=512, suffix=" px")
        self.freeze = QComboBox(objectName="freeze")
        for level, text in FREEZE_LEVELS.items():
            self.freeze.addItem(f"{level}: {text}", level)
        self.val_share = QDoubleSpinBox(objectName="valShare", minimum=0.0, maximum=0.9, singleStep=0.05,
                                        value=0.2, decimals=2)
        self.size.valueChanged.connect(lambda _v: self._mark_user_set("size"))
        self.freeze.currentIndexChanged.connect(lambda _i: self._mark_user_set("freeze"))
        self.val_share.editingFinished.connect(self._refresh_classes)  # the split decides what has examples
        for box in (self.epochs, self.size, self.minutes):
            box.valueChanged.connect(lambda _v: self.update_schedule())
        self.freeze.currentIndexChanged.connect(lambda _i: self.update_schedule())
        form = QFormLayout()
        form.addRow(self.current_label)
        form.addRow("Start from", self.start_from)
        form.addRow("", self.start_note)
        form.addRow("Classes", self.class_list)
        form.addRow("Epochs", self.epochs)
        form.addRow("Time limit", self.minutes)
        form.addRow("Input size", self.size)
        form.addRow("Train", self.freeze)
        form.addRow("Validation share", self.val_share)
        form.addRow("Schedule", self.schedule)

        self.start_button = QPushButton("Start", objectName="start", clicked=self.start)
        self.cancel_button = QPushButton("Cancel", objectName="cancel", clicked=self.cancel, enabled=False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)

        self.progress = QProgressBar(objectName="progress", minimum=0, maximum=1, value=0)
        self.status = QLabel("Ready.", objectName="status", wordWrap=True)
        self.error = QLabel(objectName="error", wordWrap=True, visible=False)
        self.plot = TrainPlot()
        self.table = ComparisonTable()
        self.activate_button = QPushButton("Activate", objectName="activate", clicked=self.activate, enabled=False)
        self.activate_button.setToolTip("Detect with the new model version from now on")
        close = QPushButton("Close", clicked=self.close)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.activate_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.error)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        self.plot.setMinimumHeight(140)
        layout.addWidget(self.table)
        layout.addLayout(bottom)
        self.resize(640, 800)

    # --- project data -----------------------------------------------------------------------------

    def reload_project(self) -> None:
        """Fill "start from" and the classes from the project (also after a run adds a version); the
        start point and the classes the user chose stay chosen."""
        try:
            with Project.open(self.project_path, create=False) as project:
                choices = start_choices(project)
                rows, self.train_images = training_examples(project, round(self.val_share.value(), 3))
        except DetectorAppError as exc:
            self.show_error(str(exc))
            self.start_button.setEnabled(False)
            return
        previous = self.start_from.currentData()
        wanted = previous.parent if previous is not None else self._remembered("start")
        self.start_from.blockSignals(True)
        self.start_from.clear()
        for choice in choices:
            self.start_from.addItem(choice.label, choice)
        same = [i for i, c in enumerate(choices) if wanted is not None and str(c.parent) == str(wanted)]
        self.start_from.setCurrentIndex(same[0] if same else default_choice(choices))
        self.start_from.blockSignals(False)
        if previous is None or not same:
            self._start_choice_changed()
        unticked = self.class_list.unticked() if self.class_list.list.count() else self._remembered_unticked()
        self.class_list.set_rows(rows, unticked)
        self.update_schedule()
        if not any(r.train_boxes for r in rows):
            self.status.setText("No reviewed boxes yet: review some images (accept, correct or draw boxes) first.")

    def _refresh_classes(self) -> None:
        try:
            with Project.open(self.project_path, create=False) as project:
                rows, self.train_images = training_examples(project, round(self.val_share.value(), 3))
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return
        self.class_list.set_rows(rows, self.class_list.unticked())
        self.update_schedule()

    def _mark_user_set(self, field: str) -> None:
        if not self._quiet:
            self.user_set.add(field)

    def _start_choice_changed(self) -> None:
        """Fields the user set stay; the others follow the start point; the note says which is which."""
        choice: StartChoice | None = self.start_from.currentData()
        if choice is None:
            return
        notes = []
        self._quiet = True
        if "size" in self.user_set:
            if self.size.value() != choice.size:
                notes.append(f"Input size kept at your {self.size.value()} px (this start point uses "
                             f"{choice.size} px).")
        else:
            self.size.setValue(choice.size)
            notes.append(f"Input size {choice.size} px, the size of this start point.")
        if "freeze" not in self.user_set:
            self.freeze.setCurrentIndex(self.freeze.findData(choice.freeze))
        elif self.freeze.currentData() != choice.freeze:
            notes.append(f"Training kept at your choice ({self.freeze.currentData()}; this start point "
                         f"suggests {choice.freeze}).")
        self._quiet = False
        if not choice.ready:
            notes.append("Its COCO weights are not on this computer: the run downloads them first, which "
                         "fails without a network connection.")
        self.start_note.setText(" ".join(notes))
        self.update_schedule()

    def update_schedule(self) -> None:
        """The schedule line: epochs and steps, warm-up, augmentation, anchors, which epoch is kept."""
        choice: StartChoice | None = self.start_from.currentData()
        if choice is None or self._quiet:
            return
        try:
            settings = self.settings()
        except DetectorAppError as exc:
            self.schedule.setText(str(exc))
            return
        self.schedule.setText(schedule_summary(settings, self.train_images, choice.parent == "scratch"))

    def set_current_model(self, name: str | None) -> None:
        """The main window switched models (an activated version): the header names the one that runs."""
        self.current_model_name = name
        self.current_label.setText(f"Current model: {name or 'none'}")

    def checked_classes(self) -> tuple[str, ...]:
        return self.class_list.checked()

    # --- remembered choices -------------------------------------------------------------------------

    def _remembered(self, name: str) -> object:
        return self.app_settings.value(KEY + name) if self.app_settings is not None else None

    def _remembered_unticked(self) -> tuple[str, ...]:
        value = self._remembered("unticked")
        return (value,) if isinstance(value, str) else tuple(value or ())

    def _restore(self) -> None:
        if self.app_settings is None:
            return
        s = self.app_settings
        self._quiet = True
        self.epochs.setValue(int(s.value(KEY + "epochs", self.epochs.value(), type=int)))
        self.minutes.setValue(int(s.value(KEY + "minutes", self.minutes.value(), type=int)))
        self.val_share.setValue(float(s.value(KEY + "val_share", self.val_share.value(), type=float)))
        if s.value(KEY + "size") is not None:
            self.size.setValue(int(s.value(KEY + "size", type=int)))
            self.user_set.add("size")
        if s.value(KEY + "freeze") is not None and self.freeze.findData(s.value(KEY + "freeze")) >= 0:
            self.freeze.setCurrentIndex(self.freeze.findData(s.value(KEY + "freeze")))
            self.user_set.add("freeze")
        self._quiet = False

    def remember(self) -> None:
        """Store the form's choices (fields the user did not set are left to follow the start point)."""
        if self.app_settings is None:
            return
        s = self.app_settings
        choice = self.start_from.currentData()
        if choice is not None:
            s.setValue(KEY + "start", str(choice.parent))
        s.setValue(KEY + "epochs", self.epochs.value())
        s.setValue(KEY + "minutes", self.minutes.value())
        s.setValue(KEY + "val_share", round(self.val_share.value(), 3))
        for field, value in (("size", self.size.value()), ("freeze", self.freeze.currentData())):
            if field in self.user_set:
                s.setValue(KEY + field, value)
        s.setValue(KEY + "unticked", list(self.class_list.unticked()))

    def settings(self) -> TrainSettings:
        choice: StartChoice = self.start_from.currentData()
        return TrainSettings(epochs=self.epochs.value() or None, minutes=self.minutes.value() or None,
                             size=self.size.value(), freeze=self.freeze.currentData(),
                             val_share=round(self.val_share.value(), 3), parent=choice.parent,
                             preset=choice.preset, classes=self.checked_classes(), **self.extra_settings)

    # --- run ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.runner is not None and self.runner.running:
            return
        try:
            settings = self.settings()
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return
        self.remember()
        self.error.hide()
        self.result = None
        self.table.setRowCount(0)
        self.activate_button.setEnabled(False)
        self.plot.clear(settings.epochs or 0)
        self.progress.setRange(0, 0)  # busy until the child reports its step count
        self.status.setText("Starting the training process…")
        self.runner = TrainingRunner(self.project_path, settings)
        self.runner.start()
        self._set_running(True)
        self._timer.start()

    def cancel(self) -> None:
        if self.runner is not None and self.runner.running:
            self.runner.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling after the current step…")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.start_from, self.class_list, self.epochs, self.minutes, self.size, self.freeze):
            widget.setEnabled(not running)
        self.val_share.setEnabled(not running)

    def _poll(self) -> None:
        if self.runner is None:
            return
        for event in self.runner.poll():
            self.handle_event(event)

    def handle_event(self, event: TrainEvent) -> None:
        if isinstance(event, RunStarted):
            self._steps = max(1, event.steps_per_epoch)
            self.plot.clear(event.epochs)  # the run's epochs are known now (auto, or after a time limit)
            self.progress.setRange(0, event.epochs * self._steps)
            self.progress.setValue(event.start_epoch * self._steps)
            self.status.setText(f"Run {event.run_id}: {event.train_images} training, {event.val_images} "
                                f"validation images; classes {', '.join(event.class_names)}")
        elif isinstance(event, PhaseChanged):
            self.status.setText(event.text)
        elif isinstance(event, StepDone):
            self.progress.setValue(event.epoch * event.steps + event.step)
            self.plot.add_step(event.epoch + event.step / event.steps, sum(event.losses.values()))
            parts = ", ".join(f"{k} {v:.3f}" for k, v in event.losses.items())
            self.status.setText(f"Epoch {event.epoch + 1}, step {event.step}/{event.steps}: {parts}; "
                                f"{event.images_per_s:.1f} images/s; about {format_duration(event.eta_s)} left")
        elif isinstance(event, EpochDone):
            self.plot.add_epoch(event.epoch + 1, event.loss, event.val_map)
        elif isinstance(event, RunFinished):
            self._finished(event.result)
        elif isinstance(event, RunFailed):
            self._stopped()
            self.show_error(event.message)  # weights.py words a network failure
            self.status.setText("Training stopped.")

    def _stopped(self) -> None:
        self._timer.stop()
        self._set_running(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)

    def _finished(self, result: TrainResult) -> None:
        self._stopped()
        self.result = result
        self.run_finished.emit(result)
        if result.status == "cancelled":
            kept = f"; checkpoint kept at {result.checkpoint}" if result.checkpoint else ""
            self.status.setText(f"Cancelled after {result.epochs_done} epoch(s){kept}.")
            return
        self.status.setText(f"Finished: model version {result.version_id} saved to {result.weights_path}.")
        self.table.show_scores(result.before, result.after, self.checked_classes())
        self.activate_button.setEnabled(result.version_id is not None)
        self.reload_project()

    def activate(self) -> None:
        from detector_app.training.versions import activate_version

        if self.result is None or self.result.version_id is None:
            return
        try:
            with Project.open(self.project_path, create=False) as project:
                activate_version(project, self.result.version_id)
        except DetectorAppError as exc:
            self.show_error(str(exc))
            return
        self.status.setText(f"Model version {self.result.version_id} is now active.")
        self.activate_button.setEnabled(False)
        self.version_activated.emit(int(self.result.version_id))

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def closeEvent(self, event) -> None:
        self.remember()
        if self.runner is not None and self.runner.running:
            self.runner.stop(grace_s=10.0)
        self._timer.stop()
        super().closeEvent(event)
