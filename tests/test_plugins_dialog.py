"""The Plugins dialog lists every plugin with its state and error; its checkboxes enable/disable, remembered."""

from __future__ import annotations

import pytest

from detector_app.paths import app_paths
from detector_app.plugins_api import PluginManager
from detector_app.plugins_api.settings import PluginSettings

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("fresh_plugins")]


def rows(dialog: object) -> dict[str, list[str]]:
    table = dialog.table
    return {table.item(r, 1).text(): [table.item(r, c).text() for c in range(1, table.columnCount())]
            for r in range(table.rowCount())}


def test_dialog_shows_states_errors_and_remembers_a_toggle(qtbot: object) -> None:
    from PySide6.QtCore import Qt

    from detector_app.ui.plugins_dialog import ENABLED_COL, PluginsDialog

    app_paths().user_plugins.mkdir(parents=True)
    (app_paths().user_plugins / "needs_missing.py").write_text("import detector_app_no_such_dependency\n")
    manager = PluginManager()
    manager.discover()
    dialog = PluginsDialog(manager)
    qtbot.addWidget(dialog)

    shown = rows(dialog)
    assert shown["yolo"][:5] == ["yolo", "format", "2.0", "app", "loaded"]
    assert shown["needs_missing"][4:] == ["failed", "missing dependency: no module named "
                                                    "'detector_app_no_such_dependency'"]

    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 1).text() == "voc")
    with qtbot.waitSignal(dialog.pluginsChanged, timeout=2000):
        dialog.table.item(row, ENABLED_COL).setCheckState(Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: rows(dialog)["voc"][4] == "disabled", timeout=2000)
    assert not PluginSettings().is_enabled("voc")
    assert "voc" not in manager.available("format")

    dialog.table.setCurrentCell(row, 1)
    assert "voc 1.0 (format, plugin API 1) from app" in dialog.details.toPlainText()
