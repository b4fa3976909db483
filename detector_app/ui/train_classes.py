"""The Train dialog's class list: every class with its examples, a filter, and the user's ticks kept."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.training.choices import ClassExamples

NO_EXAMPLES_TIP = "No box of this class is in the training split: draw or accept some first"


class ClassList(QWidget):
    """Classes with training examples start ticked; those without cannot be ticked (a run would refuse them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QLineEdit(objectName="classFilter", placeholderText="Filter classes…", clearButtonEnabled=True)
        self.list = QListWidget(objectName="classes")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.list.setMinimumHeight(220)  # about ten rows: an 80-class set stays readable with the filter
        self.summary = QLabel(objectName="classSummary")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.summary)
        self.filter.textChanged.connect(self._apply_filter)
        self.list.itemChanged.connect(lambda _item: self._summarise())

    def set_rows(self, rows: Sequence[ClassExamples], unticked: Iterable[str] = ()) -> None:
        """Fill the list; a class the user unticked (``unticked``) stays unticked."""
        unticked = set(unticked)
        self.list.blockSignals(True)
        self.list.clear()
        for row in rows:
            usable = row.train_boxes > 0
            text = (f"{row.name}  ({row.boxes} boxes, {row.train_boxes} for training)" if usable
                    else f"{row.name}  (no training examples)")
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, row.name)
            if usable:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked if row.name in unticked else Qt.CheckState.Checked)
            else:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setCheckState(Qt.CheckState.Unchecked)
                item.setToolTip(NO_EXAMPLES_TIP)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._apply_filter(self.filter.text())
        self._summarise()

    def _items(self) -> list[QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())]

    def checked(self) -> tuple[str, ...]:
        return tuple(i.data(Qt.ItemDataRole.UserRole) for i in self._items()
                     if i.checkState() == Qt.CheckState.Checked)

    def unticked(self) -> tuple[str, ...]:
        """Classes the user could train but unticked (remembered between runs and sessions)."""
        return tuple(i.data(Qt.ItemDataRole.UserRole) for i in self._items()
                     if i.flags() & Qt.ItemFlag.ItemIsEnabled and i.checkState() != Qt.CheckState.Checked)

    def item_named(self, name: str) -> QListWidgetItem | None:
        return next((i for i in self._items() if i.data(Qt.ItemDataRole.UserRole) == name), None)

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for item in self._items():
            item.setHidden(bool(needle) and needle not in item.data(Qt.ItemDataRole.UserRole).lower())

    def _summarise(self) -> None:
        usable = sum(1 for i in self._items() if i.flags() & Qt.ItemFlag.ItemIsEnabled)
        self.summary.setText(f"{len(self.checked())} of {usable} classes with training examples ticked"
                             f"{f'; {self.list.count() - usable} without examples' if self.list.count() > usable else ''}")
