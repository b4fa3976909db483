"""The error browser: a model version on the project's holdout (``training/error_analysis.py``).

For the chosen version: the confusion matrix (rows: ground truth, columns: prediction, the classes then
background, IoU 0.5, predictions from the decision threshold up), per-class precision-recall curves at IoU 0.5
(pyqtgraph), AP by object size, and the false positives, wrong classes and misses, biggest first. A click (or
Enter) on an error emits ``error_picked``; the window opens its image with the box highlighted
(``ui/errors_controller.py``).

The version predicts the holdout on a worker, in steps of a few images: a progress bar and Cancel follow it, and a
failure is one line in the dialog, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import GeneratorWorker

from detector_app.core.palette import class_color
from detector_app.errors import DetectorAppError
from detector_app.storage.project import Project
from detector_app.training.error_analysis import (
    NO_HOLDOUT,
    SIZES,
    BoxError,
    Predict,
    VersionErrors,
    analyse_version,
)
from detector_app.training.holdout import ensure_holdout
from detector_app.ui.workers import BackgroundTasks, _Joinable, failure_message

MAX_ROWS = 2000  # errors listed; the rest are counted in the status line
NO_VERSION = ("No model version yet: train one (Model › Train on reviewed labels…), then see its errors on the "
              "holdout here.")
SIZE_NOTE = {"small": "< 32² px", "medium": "32²–96² px", "large": "> 96² px"}
ERROR_COLUMNS = ("Kind", "Image", "Class", "Score", "Area (px²)")


class StepsWorker(_Joinable, GeneratorWorker):
    """A generator function on a worker: ``yielded`` per step, ``returned`` at its end, ``quit()`` cancels at a
    yield. Joinable, so the window's ``BackgroundTasks`` waits for it on close."""

    def __init__(self, steps: Callable[..., Generator[Any, None, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(steps, *args, **kwargs)
        self._init_join()

    def work(self) -> object:
        try:
            return super().work()
        finally:
            self._gen.close()  # a cancelled run lets go of its model here, on the worker thread


def tagged_steps(run: int, *args: Any, **kwargs: Any) -> Generator[tuple[int, Any], None, tuple[int, Any]]:
    """``analyse_version``'s steps and result (or the exception it raised), each tagged with the run it belongs to:
    a cancelled run's late signals are told apart from the next run's."""
    steps = analyse_version(*args, **kwargs)
    try:
        while True:
            yield run, next(steps)
    except StopIteration as done:
        return run, done.value
    except Exception as exc:  # to the dialog's one line, whatever it is (superqt would swallow a RuntimeError)
        return run, exc
    finally:
        steps.close()


class ErrorBrowser(QDialog):
    error_picked = Signal(object)  # BoxError
    analysis_done = Signal()  # a result or a message is shown (the end of a run, cancelled or not)

    def __init__(self, project: Project, tasks: BackgroundTasks, parent: QWidget | None = None,
                 device: str = "auto", predict: Predict | None = None) -> None:
        """``predict`` replaces the version's own model (for scripted checks on hand-made predictions)."""
        super().__init__(parent)
        self.project, self.tasks, self.device, self.predict = project, tasks, device, predict
        self.result: VersionErrors | None = None
        self.shown_errors: list[BoxError] = []
        self.worker: StepsWorker | None = None
        self._run = 0  # bumped per run: a cancelled run's late signals are dropped
        self.setWindowTitle("Errors on the holdout")
        self.resize(1100, 700)
        self._build()
        self.fill_versions()

    # layout ----------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.version_combo = QComboBox()
        self.version_combo.currentIndexChanged.connect(lambda _i: self.run())
        self.run_button = self._button("Analyse again", self.run)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.holdout_button = self._button("Choose a holdout now", self.choose_holdout)
        self.holdout_button.setToolTip("Put 20% of the reviewed images, stratified by class, in the holdout "
                                       "(the same as `detector-app holdout`); they are never trained on.")
        self.progress = QProgressBar()
        self.cancel_button = self._button("Cancel", self.cancel)
        top = QHBoxLayout()
        for widget in (QLabel("Model version:"), self.version_combo, self.run_button):
            top.addWidget(widget)
        top.addStretch(1)
        state = QHBoxLayout()
        for widget, stretch in ((self.status, 1), (self.holdout_button, 0), (self.progress, 0),
                                (self.cancel_button, 0)):
            state.addWidget(widget, stretch)

        self.matrix = QTableWidget()
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setToolTip("Rows: ground truth; columns: predicted (IoU 0.5, predictions from the decision "
                               "threshold up). Background row: false positives; background column: misses.")
        self.sizes = QLabel()
        self.sizes.setWordWrap(True)
        matrix_page = QWidget()
        matrix_layout = QVBoxLayout(matrix_page)
        matrix_layout.addWidget(QLabel("Rows: ground truth · columns: predicted"))
        matrix_layout.addWidget(self.matrix, 1)
        matrix_layout.addWidget(self.sizes)
        self.plot = pg.PlotWidget(background=None)
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.setLabel("bottom", "recall")
        item.setLabel("left", "precision (IoU 0.5)")
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        item.showGrid(x=True, y=True, alpha=0.2)
        self.legend = item.addLegend(offset=(-8, 8))
        self.tabs = QTabWidget()
        self.tabs.addTab(matrix_page, "Confusion matrix")
        self.tabs.addTab(self.plot, "Precision-recall")

        self.errors = QTableWidget(0, len(ERROR_COLUMNS))
        self.errors.setHorizontalHeaderLabels(ERROR_COLUMNS)
        self.errors.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.errors.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.errors.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.errors.verticalHeader().setVisible(False)
        self.errors.setToolTip("Biggest first. Click or press Enter: open the image with the box highlighted.")
        self.errors.cellClicked.connect(lambda row, _col: self.pick(row))
        self.errors.activated.connect(lambda index: self.pick(index.row()))
        errors_page = QWidget()
        errors_layout = QVBoxLayout(errors_page)
        errors_layout.setContentsMargins(0, 0, 0, 0)
        errors_layout.addWidget(QLabel("False positives, wrong classes and misses, biggest first"))
        errors_layout.addWidget(self.errors, 1)
        splitter = QSplitter()
        splitter.addWidget(self.tabs)
        splitter.addWidget(errors_page)
        splitter.setSizes([520, 560])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(state)
        layout.addWidget(splitter, 1)
        self._set_running(False)
        self.holdout_button.hide()

    def _button(self, text: str, slot: object) -> QPushButton:
        button = QPushButton(text)
        button.setAutoDefault(False)  # Enter in the error list opens the error, never presses a button
        button.clicked.connect(slot)
        return button

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.run_button.setEnabled(not running and self.version_combo.count() > 0)

    # versions and runs -----------------------------------------------------------------------------------------
    def fill_versions(self) -> None:
        """The project's versions, newest first, the active one chosen (which starts a run)."""
        versions = self.project.repo.model_versions()
        self.version_combo.blockSignals(True)
        self.version_combo.clear()
        for version in sorted(versions, key=lambda v: -v.id):
            self.version_combo.addItem(f"{version.name}{'  (active)' if version.is_active else ''}", version.id)
        active = next((v.id for v in versions if v.is_active), None)
        if active is not None:
            self.version_combo.setCurrentIndex(self.version_combo.findData(active))
        self.version_combo.blockSignals(False)
        if not versions:
            self._clear()
            self._set_running(False)
            self.status.setText(NO_VERSION)
            return
        self.run()

    def version_id(self) -> int | None:
        data = self.version_combo.currentData()
        return int(data) if data is not None else None

    def run(self) -> None:
        """Analyse the chosen version (cancelling a run still going)."""
        version = self.version_id()
        if version is None:
            return
        self.cancel(quiet=True)
        self._run += 1
        self._clear()
        self.holdout_button.hide()
        self.status.setText(f"Reading the holdout and loading {self.version_combo.currentText().strip()}…")
        self.progress.setRange(0, 0)  # busy until the first step says how many images
        self._set_running(True)
        worker = StepsWorker(tagged_steps, self._run, self.project, version, self.device, predict=self.predict)
        # Bound methods, not partials: Qt drops the connections when the dialog is deleted.
        worker.yielded.connect(self._on_step)
        worker.returned.connect(self._on_result)
        worker.errored.connect(self._on_error)
        self.worker = worker
        self.tasks.start(worker)

    def cancel(self, quiet: bool = False) -> None:
        if self.worker is None:
            return
        self.worker.quit()  # stops at its next step; its late signals belong to an old run and are dropped
        self.worker = None
        self._run += 1
        self._set_running(False)
        if not quiet:
            self.status.setText("Cancelled. Analyse again to start over.")
            self.analysis_done.emit()

    def choose_holdout(self) -> None:
        try:
            holdout = ensure_holdout(self.project.repo)
        except DetectorAppError as exc:
            self.status.setText(f"No holdout: {exc}")
            return
        self.holdout_button.hide()
        self.status.setText(f"Holdout chosen: {holdout.size} images.")
        self.run()

    def _on_step(self, tagged: tuple[int, tuple[int, int]]) -> None:
        run, (done, total) = tagged
        if run != self._run:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"Predicting the holdout: {done} of {total} images…")

    def _on_error(self, exc: Exception) -> None:
        """Only what ``tagged_steps`` cannot catch (a failure starting the worker)."""
        self._on_failed(self._run, exc)

    def _on_failed(self, run: int, exc: Exception) -> None:
        if run != self._run:
            return
        self.worker = None
        self._set_running(False)
        message = failure_message("analysing the version failed", exc)
        self.holdout_button.setVisible(message == NO_HOLDOUT)
        if message == NO_HOLDOUT:
            message = ("No holdout yet. " + message[0].upper() + message[1:] + ", or choose one here: 20% of the "
                       "reviewed images, never trained on, the same for every version.")
        self.status.setText(message)
        self.analysis_done.emit()

    def _on_result(self, tagged: tuple[int, VersionErrors | Exception]) -> None:
        run, result = tagged
        if isinstance(result, Exception):
            self._on_failed(run, result)
            return
        if run != self._run:
            return
        self.worker = None
        self._set_running(False)
        self.result = result
        report = result.report
        self._show_matrix(report.labels, report.confusion)
        self._show_curves(report.pr_curves)
        self.sizes.setText("AP@[.5:.95] by object size: " + " · ".join(
            f"{size} ({SIZE_NOTE[size]}) {'–' if report.ap_by_size[size] is None else f'{report.ap_by_size[size]:.3f}'}"
            for size in SIZES) + "  (– : no ground truth of that size)")
        self._show_errors(report.errors)
        more = f" (the first {MAX_ROWS} listed)" if len(report.errors) > MAX_ROWS else ""
        self.status.setText(f"{result.version_name} on {result.images} reviewed holdout images: "
                            f"{len(report.errors)} errors{more}.")
        self.analysis_done.emit()

    # results ---------------------------------------------------------------------------------------------------
    def _clear(self) -> None:
        self.result = None
        self.shown_errors = []
        self.matrix.clear()
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.errors.setRowCount(0)
        self.plot.getPlotItem().clear()
        self.legend.clear()
        self.sizes.clear()

    def _show_matrix(self, labels: tuple[str, ...], confusion: tuple[tuple[int, ...], ...]) -> None:
        self.matrix.setRowCount(len(labels))
        self.matrix.setColumnCount(len(labels))
        self.matrix.setHorizontalHeaderLabels(list(labels))
        self.matrix.setVerticalHeaderLabels(list(labels))
        bold = QFont()
        bold.setBold(True)
        for r, row in enumerate(confusion):
            for c, count in enumerate(row):
                cell = QTableWidgetItem(str(count))
                cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if r == c:
                    cell.setFont(bold)
                elif count:  # an error cell: tinted so the eye finds it
                    cell.setBackground(QBrush(QColor(220, 60, 60, 70)))
                self.matrix.setItem(r, c, cell)
        self.matrix.resizeColumnsToContents()

    def _show_curves(self, curves: dict[str, list[tuple[float, float]]]) -> None:
        item = self.plot.getPlotItem()
        for name, points in curves.items():
            if points:
                recall, precision = zip(*points, strict=True)
                item.plot(list(recall), list(precision), pen=pg.mkPen(class_color(name), width=2), name=name)

    def _show_errors(self, errors: tuple[BoxError, ...]) -> None:
        self.shown_errors = list(errors[:MAX_ROWS])
        names = {i.id: i.path.name for i in self.project.repo.get_images(sorted({e.image_id for e in errors}))}
        self.errors.setRowCount(len(self.shown_errors))
        for row, error in enumerate(self.shown_errors):
            what = error.category + (f" (is {error.true_category})" if error.true_category else "")
            values = (error.kind, names.get(error.image_id, str(error.image_id)), what,
                      "" if error.score is None else f"{error.score:.2f}", f"{error.area:.0f}")
            for col, value in enumerate(values):
                self.errors.setItem(row, col, QTableWidgetItem(value))
        self.errors.resizeColumnsToContents()

    def pick(self, row: int) -> None:
        if 0 <= row < len(self.shown_errors):
            self.error_picked.emit(self.shown_errors[row])

    def closeEvent(self, event: object) -> None:
        self.cancel(quiet=True)
        super().closeEvent(event)  # type: ignore[arg-type]
