"""Side panel: the current image's boxes and the project's classes with counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from detector_app.core.labels import Status
from detector_app.ui.box_item import BoxSpec

# What the box table shows for a status; "live": a box of the live view, never stored.
STATUS_TEXT = {Status.PREDICTED: "to review", Status.ACCEPTED: Status.ACCEPTED.value,
               Status.CORRECTED: Status.CORRECTED.value, Status.REJECTED: Status.REJECTED.value, "live": "live"}


def _item(text: str, key: int | None = None, color: tuple[int, int, int] | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if key is not None:
        item.setData(Qt.ItemDataRole.UserRole, int(key))
    if color is not None:
        item.setForeground(QBrush(QColor(*color)))
    return item


def _setup_read_only_table(table: QTableWidget, headers: Sequence[str], stretch: int) -> None:
    """Single-row selection, no editing, no focus (keys go to the window's shortcuts)."""
    table.setHorizontalHeaderLabels(list(headers))
    header = table.horizontalHeader()
    for column in range(len(headers)):
        mode = QHeaderView.ResizeMode.Stretch if column == stretch else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(column, mode)
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)


class BoxTable(QTableWidget):
    """One row per box: class, score, review state. Selecting a row selects the box on the canvas."""

    box_selected = Signal(object)  # annotation id or None

    def __init__(self, parent=None) -> None:
        super().__init__(0, 3, parent)
        _setup_read_only_table(self, ["Class", "Score", "State"], stretch=0)
        self.itemSelectionChanged.connect(self._emit_selection)
        self._updating = False

    def set_boxes(self, specs: Sequence[BoxSpec], selected: int | None) -> None:
        self._updating = True
        self.setRowCount(len(specs))
        for row, spec in enumerate(specs):
            muted = (150, 150, 150) if spec.status == Status.REJECTED else None
            self.setItem(row, 0, _item(spec.label, spec.key, muted or spec.color))
            self.setItem(row, 1, _item("" if spec.score is None else f"{spec.score:.2f}", spec.key, muted))
            self.setItem(row, 2, _item(STATUS_TEXT.get(spec.status, spec.status), spec.key, muted))
        self.select_key(selected)
        self._updating = False

    def select_key(self, key: int | None) -> None:
        self._updating = True
        self.clearSelection()
        for row in range(self.rowCount()):
            if key is not None and self.item(row, 0).data(Qt.ItemDataRole.UserRole) == key:
                self.selectRow(row)
                break
        self._updating = False

    def _emit_selection(self) -> None:
        if self._updating:
            return
        rows = self.selectionModel().selectedRows()
        self.box_selected.emit(self.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole) if rows else None)


class ClassTable(QTableWidget):
    """Classes with their box counts; a click filters the review queue to that class, a click on the chosen
    class (or the header's "Show all") clears the filter."""

    class_chosen = Signal(object)  # class name or None

    def __init__(self, parent=None) -> None:
        super().__init__(0, 3, parent)
        _setup_read_only_table(self, ["Key", "Class", "Boxes"], stretch=1)
        self.itemSelectionChanged.connect(self._emit)

    def set_classes(self, names: Sequence[str], counts: Mapping[str, int],
                    colors: Mapping[str, tuple[int, int, int]]) -> None:
        rows = self.selectionModel().selectedRows()
        chosen = self.item(rows[0].row(), 1).text() if rows else None  # the filter follows the name, not the row
        self.blockSignals(True)
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            self.setItem(row, 0, _item(str(row + 1) if row < 9 else ""))
            self.setItem(row, 1, _item(name, None, colors.get(name)))
            self.setItem(row, 2, _item(str(counts.get(name, 0))))
        self.clearSelection()
        if chosen in names:
            self.selectRow(names.index(chosen))
        self.blockSignals(False)
        if chosen is not None and chosen not in names:  # the filtered class was renamed, merged or deleted
            self.class_chosen.emit(None)

    def _emit(self) -> None:
        rows = self.selectionModel().selectedRows()
        self.class_chosen.emit(self.item(rows[0].row(), 1).text() if rows else None)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        if index.isValid() and self.selectionModel().isRowSelected(index.row()):
            self.clearSelection()  # a second click on the filtered class shows every class again
            return
        super().mousePressEvent(event)


class ClassHeader(QWidget):
    """The title above the class table with "Show all" (clears the class filter) and "Manage…"."""

    def __init__(self, table: ClassTable, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Classes (click to filter)")
        self.show_all = QPushButton("Show all")
        self.show_all.setToolTip("Clear the class filter: show the boxes of every class")
        self.show_all.setEnabled(False)
        self.show_all.clicked.connect(table.clearSelection)
        self.manage = QPushButton("Manage…")
        self.manage.setToolTip("Add, rename, merge, delete, reorder and recolour classes")
        table.class_chosen.connect(lambda name: self._on_filter(name))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title, 1)
        layout.addWidget(self.show_all)
        layout.addWidget(self.manage)

    def _on_filter(self, name: str | None) -> None:
        self.show_all.setEnabled(name is not None)
        self.title.setText("Classes (click to filter)" if name is None else f"Only {name} shown")
