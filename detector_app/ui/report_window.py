"""Model › Correction report…: per model version, what correcting its predictions cost beside how it scores on the
holdout (``training/correction_report.py``): the table of ``detector-app report`` and two plots across versions,
cost (edits per image, left axis; median seconds per image, right axis) and accuracy (holdout mAP and AP50).

The report is built on a worker: the first time a version is scored on the current holdout its model runs (then the
scores are kept with the version). Empty states say what to do: no versions, nothing reviewed, no holdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.storage.project import Project
from detector_app.training.correction_report import (
    COLUMNS,
    CorrectionReport,
    ReportRow,
    build_report,
    table_cells,
)
from detector_app.ui.workers import BackgroundTasks, CallWorker, failure_message

EDITS_COLOUR = "#e07b39"
SECONDS_COLOUR = "#7a5cc7"
MAP_COLOUR = "#3a86c8"
AP50_COLOUR = "#3aa876"
COMPUTING = ("Computing the report… a version not yet scored on this holdout runs once on its images "
             "(then its scores are kept).")

Points = tuple[list[float], list[float]]


def series(rows: Sequence[ReportRow], value: Callable[[ReportRow], float | None]) -> Points:
    """(x, y) of the rows where ``value(row)`` is known: x is the row's place in the table (its version)."""
    xs, ys = [], []
    for x, row in enumerate(rows):
        y = value(row)
        if y is not None:
            xs.append(float(x))
            ys.append(float(y))
    return xs, ys


def _curve(plot: pg.PlotItem | pg.ViewBox, colour: str, name: str) -> pg.PlotDataItem:
    curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=7, symbolBrush=colour,
                            symbolPen=None, name=name)
    plot.addItem(curve)
    return curve


def _plot(y_label: str, colour: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background=None)
    item = widget.getPlotItem()
    item.setMenuEnabled(False)
    item.setMouseEnabled(x=False, y=False)
    item.hideButtons()
    item.showGrid(x=False, y=True, alpha=0.2)
    item.setLabel("left", y_label, color=colour)
    item.addLegend(offset=(8, 4))
    widget.setMinimumSize(320, 200)
    return widget


class ReportWindow(QDialog):
    """The table, the two plots and a line that says what is missing; ``Refresh`` builds the report again."""

    report_shown = Signal()  # a report (or a failure) is shown

    def __init__(self, project: Project, tasks: BackgroundTasks, parent: QWidget | None = None,
                 device: str = "auto") -> None:
        super().__init__(parent)
        self.project, self.tasks, self.device = project, tasks, device
        self.report: CorrectionReport | None = None
        self._worker: CallWorker | None = None
        self.setWindowTitle("Correction report")
        self.resize(1100, 640)
        self._build()
        self.refresh()

    def _build(self) -> None:
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("emptyState")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        for n, (header, tip, _) in enumerate(COLUMNS):
            item = QTableWidgetItem(header)
            item.setToolTip(tip)
            self.table.setHorizontalHeaderItem(n, item)
        self.cost_plot = _plot("edits / image", EDITS_COLOUR)
        self.edits_curve = _curve(self.cost_plot.getPlotItem(), EDITS_COLOUR, "edits / image")
        self._seconds_box = pg.ViewBox()  # seconds on the right axis, as train_plot.py does its second axis
        cost = self.cost_plot.getPlotItem()
        cost.showAxis("right")
        cost.scene().addItem(self._seconds_box)
        cost.getAxis("right").linkToView(self._seconds_box)
        cost.getAxis("right").setLabel("seconds / image (median)", color=SECONDS_COLOUR)
        self._seconds_box.setXLink(cost)
        self._seconds_box.setMouseEnabled(x=False, y=False)
        self.seconds_curve = _curve(self._seconds_box, SECONDS_COLOUR, "seconds / image")
        cost.legend.addItem(self.seconds_curve, "seconds / image")
        cost.vb.sigResized.connect(self._sync_views)
        self.accuracy_plot = _plot("holdout AP", MAP_COLOUR)
        self.accuracy_plot.getPlotItem().setYRange(0.0, 1.0, padding=0.02)
        self.map_curve = _curve(self.accuracy_plot.getPlotItem(), MAP_COLOUR, "mAP@[.5:.95]")
        self.ap50_curve = _curve(self.accuracy_plot.getPlotItem(), AP50_COLOUR, "AP50")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        plots = QHBoxLayout()
        plots.addWidget(self.cost_plot)
        plots.addWidget(self.accuracy_plot)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(plots, 2)
        layout.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignRight)

    def _sync_views(self) -> None:
        self._seconds_box.setGeometry(self.cost_plot.getPlotItem().vb.sceneBoundingRect())

    # building the report ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Build the report on a worker (a refresh while one runs waits for it: the button is off meanwhile)."""
        if self._worker is not None:
            return
        self.refresh_button.setEnabled(False)
        self.message.setText(COMPUTING)
        worker = CallWorker(partial(build_report, self.project, self.device))
        worker.returned.connect(self.show_report)
        worker.errored.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self.tasks.start(worker)

    def _on_finished(self) -> None:
        self._worker = None
        self.refresh_button.setEnabled(True)

    def _on_failed(self, exc: Exception) -> None:
        self.message.setText(failure_message("building the correction report failed", exc))
        self.report_shown.emit()

    def show_report(self, report: CorrectionReport) -> None:
        self.report = report
        self.message.setText("\n".join(report.notes) or self._holdout_line(report))
        self.table.setVisible(bool(report.rows))
        self.cost_plot.setVisible(bool(report.rows))
        self.accuracy_plot.setVisible(bool(report.rows))
        self.table.setRowCount(len(report.rows))
        for r, cells in enumerate(table_cells(report)):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignVCenter
                                      | (Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight))
                if c == 0 and report.rows[r].holdout_note:
                    item.setToolTip(f"no holdout scores: {report.rows[r].holdout_note}")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._plot(report.rows)
        self.report_shown.emit()

    @staticmethod
    def _holdout_line(report: CorrectionReport) -> str:
        return (f"Cost on the images reviewed from each version's predictions; accuracy on the holdout's "
                f"{report.holdout_images} reviewed images.")

    def _plot(self, rows: Sequence[ReportRow]) -> None:
        ticks = [[(float(x), row.name) for x, row in enumerate(rows)]]
        for widget in (self.cost_plot, self.accuracy_plot):
            widget.getPlotItem().getAxis("bottom").setTicks(ticks)
            widget.getPlotItem().setXRange(-0.5, max(0.5, len(rows) - 0.5), padding=0)
        edits = series(rows, lambda r: r.cost.edits_per_image)
        seconds = series(rows, lambda r: r.cost.median_seconds)
        self.edits_curve.setData(*edits)
        self.seconds_curve.setData(*seconds)
        # Both cost axes start at 0: a version that halves the work should look like half of it.
        self.cost_plot.getPlotItem().setYRange(0.0, max(edits[1], default=0.0) * 1.1 or 1.0, padding=0)
        self._seconds_box.setYRange(0.0, max(seconds[1], default=0.0) * 1.1 or 1.0, padding=0)
        self.map_curve.setData(*series(rows, lambda r: r.holdout.map if r.holdout else None))
        self.ap50_curve.setData(*series(rows, lambda r: r.holdout.ap50 if r.holdout else None))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._worker is not None:
            self._worker.quit()  # its result is dropped; the tasks join it when the main window closes
        super().closeEvent(event)

