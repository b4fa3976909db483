"""The Train dialog's before/after table: each metric of the parent and of the new version, and the change."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

from detector_app.training.events import EvalResult


class ComparisonTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent, objectName="comparison")
        self.setHorizontalHeaderLabels(["Metric", "Before", "After", "Change"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.setMaximumHeight(150)

    def show_scores(self, before: EvalResult | None, after: EvalResult | None, classes: Sequence[str]) -> None:
        from detector_app.training.report import comparison_rows, format_change, format_value

        rows = comparison_rows(before, after, classes)
        self.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate((row.metric, format_value(row.before), format_value(row.after),
                                      format_change(row.change))):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, j, item)
        self.resizeColumnsToContents()
