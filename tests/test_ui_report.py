"""The correction report window (pytest-qt): its table cells and its plots' data on the two-version project of
tests/correction_project.py (hand-computed counts; holdout scores compared with the library function's, computed
once when the project was built and read back from the versions), its empty states, and Model › Correction report…
in the main window."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.storage import Project
from detector_app.training.correction_report import NO_HOLDOUT, NO_REVIEWS, NO_VERSIONS, build_report
from detector_app.ui.report_window import ReportWindow
from detector_app.ui.workers import BackgroundTasks

from . import correction_project
from .ui_helpers import make_settings

pytestmark = pytest.mark.gui
WAIT_MS = 120_000  # scoring a version not yet scored runs its model: far less than this even on a busy machine


@pytest.fixture
def tasks() -> BackgroundTasks:
    tasks = BackgroundTasks()
    yield tasks
    tasks.join()


def _open(qtbot, project: Project, tasks: BackgroundTasks) -> ReportWindow:
    window = ReportWindow(project, tasks, device="cpu")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.report_shown, timeout=WAIT_MS):
        window.show()
    return window


def _cells(window: ReportWindow) -> list[list[str]]:
    table = window.table
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_table_and_plots_of_two_versions(qtbot, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
                                         tasks: BackgroundTasks) -> None:
    folder = tmp_path / "project"
    ids = correction_project.project_copy(tmp_path_factory, folder)
    with Project.open(folder, create=False) as project:
        library = {r.version_id: r for r in build_report(project, evaluate=False).rows}
        window = _open(qtbot, project, tasks)
        v1, v2 = library[ids["v1"]].holdout, library[ids["v2"]].holdout
        assert v1 is not None and v2 is not None
        headers = [window.table.horizontalHeaderItem(c).text() for c in range(window.table.columnCount())]
        assert headers[:3] == ["version", "images", "accept"] and headers[-5:] == ["mAP", "AP50", "APs", "APm", "APl"]
        # By hand (tests/test_training_correction_cost.py derives each): acceptance 4/8 and 7/8, edits per image
        # 7/3 and 2/3, mean adjusted IoU 0.5, median seconds 40 and 12.
        assert _cells(window) == [
            ["(no version)", "1", "100%", "0.00", "0.00", "0.00", "0.00", "0.00", "-", "-", "-", "-", "-", "-", "-"],
            ["v1", "3", "50%", "0.67", "0.33", "0.33", "1.00", "2.33", "0.50", "40.0", f"{v1.map:.3f}",
             f"{v1.ap50:.3f}", f"{v1.ap_small:.3f}", f"{v1.ap_medium:.3f}", "-"],
            ["v2", "3", "88%", "0.00", "0.00", "0.33", "0.33", "0.67", "-", "12.0", f"{v2.map:.3f}",
             f"{v2.ap50:.3f}", f"{v2.ap_small:.3f}", f"{v2.ap_medium:.3f}", "-"],
        ]
        # Plots: x is the row (0: no version, 1: v1, 2: v2); a row without the value has no point.
        edits_x, edits_y = window.edits_curve.getData()
        assert list(edits_x) == [0, 1, 2] and list(edits_y) == pytest.approx([0.0, 7 / 3, 2 / 3])
        seconds_x, seconds_y = window.seconds_curve.getData()
        assert list(seconds_x) == [1, 2] and list(seconds_y) == [40.0, 12.0]
        assert window.cost_plot.getPlotItem().viewRange()[1][0] == 0.0  # both cost axes start at 0
        assert window._seconds_box.viewRange()[1] == pytest.approx([0.0, 44.0])
        map_x, map_y = window.map_curve.getData()
        assert list(map_x) == [1, 2] and list(map_y) == pytest.approx([v1.map, v2.map])
        assert list(window.ap50_curve.getData()[1]) == pytest.approx([v1.ap50, v2.ap50])
        ticks = window.accuracy_plot.getPlotItem().getAxis("bottom")._tickLevels
        assert [name for _, name in ticks[0]] == ["(no version)", "v1", "v2"]
        assert "2 reviewed images" in window.message.text() and window.table.isVisibleTo(window)
        window.close()


def test_empty_states_say_what_to_do(qtbot, project_dir: Path, tasks: BackgroundTasks) -> None:
    with Project.open(project_dir) as project:
        window = _open(qtbot, project, tasks)
        assert window.message.text() == NO_VERSIONS
        assert not window.table.isVisibleTo(window) and not window.cost_plot.isVisibleTo(window)
        project.repo.add_model_version("v1", "retinanet_light", ["cat"])
        with qtbot.waitSignal(window.report_shown, timeout=WAIT_MS):
            window.refresh_button.click()
        assert window.message.text() == f"{NO_REVIEWS}\n{NO_HOLDOUT}"
        assert window.table.isVisibleTo(window) and _cells(window)[0][:3] == ["v1", "0", "-"]
        assert window.edits_curve.getData()[0] is None or len(window.edits_curve.getData()[0]) == 0
        window.close()



def test_model_menu_opens_the_report(qtbot, tmp_path: Path, project_dir: Path) -> None:
    from detector_app.ui.main_window import MainWindow

    Project.open(project_dir).close()
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    model_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Model")
    action = next(a for a in model_menu.actions() if a.text() == "Correction report…")
    action.trigger()
    report = win.correction_report.report_window
    assert report is not None and report.isVisible()
    qtbot.waitUntil(lambda: report.report is not None, timeout=WAIT_MS)
    assert report.message.text() == NO_VERSIONS
    win.close()
