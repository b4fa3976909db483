"""The score threshold and the class filter that the live view, the review canvas and the image list share."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QSlider

from detector_app.ui.panels import ClassTable


class Filters(QObject):
    """Reads the threshold slider and the class table's selection; ``changed`` when either moves."""

    changed = Signal()

    def __init__(self, slider: QSlider, label: QLabel, class_table: ClassTable) -> None:
        super().__init__(slider)
        self.slider, self.label, self.class_table = slider, label, class_table
        slider.valueChanged.connect(self._on_changed)
        class_table.class_chosen.connect(lambda _name: self._on_changed())
        self._show_threshold()

    def threshold(self) -> float:
        return self.slider.value() / 100.0

    def class_filter(self) -> set[str] | None:
        rows = self.class_table.selectionModel().selectedRows()
        return {self.class_table.item(rows[0].row(), 1).text()} if rows else None

    def _show_threshold(self) -> None:
        self.label.setText(f"Score threshold: {self.threshold():.2f}")

    def _on_changed(self) -> None:
        self._show_threshold()
        self.changed.emit()
