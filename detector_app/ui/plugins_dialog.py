"""The Plugins dialog: every plugin found, its state and error, and a checkbox to enable or disable it.

A change is saved at once (plugins.json, shared with ``detector-app plugins``) and announced with
``pluginsChanged`` so the window can rebuild its export, source and model menus.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detector_app.errors import DetectorAppError
from detector_app.plugins_api import DISABLED, FAILED, PluginManager, PluginRecord, get_manager

COLUMNS = ("Enabled", "Name", "Kind", "Version", "Origin", "State", "Error")
ENABLED_COL, NAME_COL, STATE_COL, ERROR_COL = 0, 1, 5, 6
STATE_COLORS = {FAILED: QColor("#c62828"), DISABLED: QColor("#757575")}


class PluginsDialog(QDialog):
    pluginsChanged = Signal()

    def __init__(self, manager: PluginManager | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(820, 420)
        self.manager = manager or get_manager()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(ERROR_COL, QHeaderView.ResizeMode.Stretch)
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setMaximumHeight(90)
        self.details.setPlaceholderText("Select a plugin to see where it comes from and its full error.")
        self._build_layout()
        self._records: list[PluginRecord] = []
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_details(row))
        self.refresh()

    def _build_layout(self) -> None:
        hint = QLabel("Plugins add export formats, sources and detectors. Unticking one stops the app from "
                      "using it; the choice is remembered. Plugins are read from the app's plugins folder, your "
                      "user plugin folder and installed packages.")
        hint.setWordWrap(True)
        reload_button = QPushButton("Reload plugins")
        reload_button.clicked.connect(self.reload)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(reload_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.table)
        layout.addWidget(self.details)
        layout.addWidget(buttons)

    def reload(self) -> None:
        """Look for plugins again (after adding a file to a plugin folder or installing a package)."""
        self.manager.discover()
        self.refresh()
        self.pluginsChanged.emit()

    def refresh(self) -> None:
        self._records = self.manager.records()
        self.table.blockSignals(True)  # filling the table must not read as the user ticking boxes
        try:
            self.table.setRowCount(len(self._records))
            for row, record in enumerate(self._records):
                self._fill_row(row, record)
        finally:
            self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(ERROR_COL, QHeaderView.ResizeMode.Stretch)

    def _fill_row(self, row: int, record: PluginRecord) -> None:
        check = QTableWidgetItem()
        check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        check.setCheckState(Qt.CheckState.Unchecked if record.state == DISABLED else Qt.CheckState.Checked)
        check.setData(Qt.ItemDataRole.UserRole, record.name)
        self.table.setItem(row, ENABLED_COL, check)
        values = (record.name, record.kind, record.version, record.origin, record.state, record.error or "")
        for col, value in enumerate(values, start=1):
            item = QTableWidgetItem(value)
            item.setToolTip(value if col != ERROR_COL else record.error or "no error")
            if col == STATE_COL and record.state in STATE_COLORS:
                item.setForeground(STATE_COLORS[record.state])
            self.table.setItem(row, col, item)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != ENABLED_COL:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        try:
            self.manager.set_enabled(name, item.checkState() == Qt.CheckState.Checked)
        except (DetectorAppError, OSError) as exc:  # e.g. the config folder is read-only
            self.details.setPlainText(f"could not change {name}: {exc}")
        # Rebuilt after this handler returns: replacing the item that emitted the signal inside it is unsafe.
        QTimer.singleShot(0, self.refresh)
        self.pluginsChanged.emit()

    def _show_details(self, row: int) -> None:
        if not 0 <= row < len(self._records):
            self.details.clear()
            return
        r = self._records[row]
        lines = [f"{r.name} {r.version} ({r.kind}, plugin API {r.api_version or '?'}) from {r.origin}: {r.location}"]
        if r.description:
            lines.append(r.description)
        if r.error:
            lines.append(f"error: {r.error}")
        self.details.setPlainText("\n".join(lines))
