"""The Train dialog: settings, a run in a separate process with live progress, then before/after.

The run itself is ``training.background.TrainingRunner`` (a spawned process); a QTimer polls its event
queue, so the GUI thread never waits on training. ``version_activated(int)`` tells the main window
to switch its detector to the activated version.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.errors import DetectorAppError
from detector_app.storage import Project
from detector_app.training.background import TrainingRunner
from detector_app.training.choices import StartChoice, start_choices, trainable_class_counts
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
from detector_app.training.settings import FREEZE_LEVELS, TrainSettings
from detector_app.ui.train_plot import TrainPlot

POLL_MS = 100


class TrainDialog(QDialog):
    """``TrainDialog(project_path, current_model_name, parent)``; non-modal, owns at most one run."""

    version_activated = Signal(int)
    run_finished = Signal(object)  # TrainResult (finished or cancelled)

    def __init__(self, project_path: Path, current_model_name: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train on reviewed labels")
        self.project_path = Path(project_path)
        self.current_model_name = current_model_name
        self.runner: TrainingRunner | None = None
        self.result: TrainResult | None = None
        # Settings the form does not show (batch size, threads, learning rate...), by TrainSettings field.
        self.extra_settings: dict[str, object] = {}
        self._timer = QTimer(self, interval=POLL_MS, timeout=self._poll)
        self._build()
        self.reload_project()

    # --- layout -----------------------------------------------------------------------------------

    def _build(self) -> None:
        self.current_label = QLabel(f"Current model: {self.current_model_name or 'none'}")
        self.start_from = QComboBox(objectName="startFrom")
        self.start_from.currentIndexChanged.connect(self._start_choice_changed)
        self.classes = QListWidget(objectName="classes")
        self.classes.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.classes.setMaximumHeight(110)
        self.epochs = QSpinBox(objectName="epochs", minimum=1, maximum=500, value=10)
        self.size = QSpinBox(objectName="size", minimum=64, maximum=1344, singleStep=32, value=512, suffix=" px")
        self.freeze = QComboBox(objectName="freeze")
        for level, text in FREEZE_LEVELS.items():
            self.freeze.addItem(f"{level}: {text}", level)
        self.val_share = QDoubleSpinBox(objectName="valShare", minimum=0.0, maximum=0.9, singleStep=0.05,
                                        value=0.2, decimals=2)
        form = QFormLayout()
        form.addRow(self.current_label)
        form.addRow("Start from", self.start_from)
        form.addRow("Classes", self.classes)
        form.addRow("Epochs", self.epochs)
        form.addRow("Input size", self.size)
        form.addRow("Train", self.freeze)
        form.addRow("Validation share", self.val_share)

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
        self.table = QTableWidget(0, 4, objectName="comparison")
        self.table.setHorizontalHeaderLabels(["Metric", "Before", "After", "Change"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(170)
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
        layout.addWidget(self.table)
        layout.addLayout(bottom)
        self.resize(620, 760)

    # --- project data -----------------------------------------------------------------------------

    def reload_project(self) -> None:
        """Fill "start from" and the classes from the project (also after a run adds a version)."""
        try:
            with Project.open(self.project_path, create=False) as project:
                choices = start_choices(project)
                counts = trainable_class_counts(project)
        except DetectorAppError as exc:
            self.show_error(str(exc))
            self.start_button.setEnabled(False)
            return
        previous: StartChoice | None = self.start_from.currentData()
        self.start_from.blockSignals(True)
        self.start_from.clear()
        for choice in choices:
            self.start_from.addItem(choice.label, choice)
        same = [i for i, c in enumerate(choices) if previous is not None and c.parent == previous.parent]
        self.start_from.setCurrentIndex(same[0] if same else 0)
        self.start_from.blockSignals(False)
        if not same:  # keep the user's freeze level and size while the choice stays
            self._start_choice_changed()
        self.classes.clear()
        for name, count in counts.items():
            item = QListWidgetItem(f"{name}  ({count} boxes)")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.classes.addItem(item)
        if not counts:
            self.status.setText("No reviewed boxes yet: review some images (accept, correct or draw boxes) first.")

    def _start_choice_changed(self) -> None:
        choice: StartChoice | None = self.start_from.currentData()
        if choice is None:
            return
        self.freeze.setCurrentIndex(self.freeze.findData(choice.freeze))
        self.size.setValue(choice.size)

    def checked_classes(self) -> tuple[str, ...]:
        return tuple(self.classes.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.classes.count())
                     if self.classes.item(i).checkState() == Qt.CheckState.Checked)

    def settings(self) -> TrainSettings:
        choice: StartChoice = self.start_from.currentData()
        return TrainSettings(epochs=self.epochs.value(), size=self.size.value(), freeze=self.freeze.currentData(),
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
        self.error.hide()
        self.result = None
        self.table.setRowCount(0)
        self.activate_button.setEnabled(False)
        self.plot.clear(settings.epochs)
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
        for widget in (self.start_from, self.classes, self.epochs, self.size, self.freeze, self.val_share):
            widget.setEnabled(not running)

    def _poll(self) -> None:
        if self.runner is None:
            return
        for event in self.runner.poll():
            self.handle_event(event)

    def handle_event(self, event: TrainEvent) -> None:
        if isinstance(event, RunStarted):
            self._steps = max(1, event.steps_per_epoch)
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
                                f"{event.images_per_s:.1f} images/s; about {_duration(event.eta_s)} left")
        elif isinstance(event, EpochDone):
            self.plot.add_epoch(event.epoch + 1, event.loss, event.val_map)
        elif isinstance(event, RunFinished):
            self._finished(event.result)
        elif isinstance(event, RunFailed):
            self._stopped()
            self.show_error(event.message)
            self.status.setText("Training stopped.")

    def _stopped(self) -> None:
        self._timer.stop()
        self._set_running(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)

    def _finished(self, result: TrainResult) -> None:
        from detector_app.training.report import comparison_rows, format_change, format_value

        self._stopped()
        self.result = result
        self.run_finished.emit(result)
        if result.status == "cancelled":
            kept = f"; checkpoint kept at {result.checkpoint}" if result.checkpoint else ""
            self.status.setText(f"Cancelled after {result.epochs_done} epoch(s){kept}.")
            return
        self.status.setText(f"Finished: model version {result.version_id} saved to {result.weights_path}.")
        rows = comparison_rows(result.before, result.after, self.checked_classes())
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate((row.metric, format_value(row.before), format_value(row.after),
                                      format_change(row.change))):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
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
        if self.runner is not None and self.runner.running:
            self.runner.stop(grace_s=10.0)
        self._timer.stop()
        super().closeEvent(event)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
