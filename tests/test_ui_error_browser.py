"""The error browser in the real window (ui/error_browser.py, ui/errors_controller.py): a hand-checked confusion
matrix, AP by size and error list on a tiny hand-made holdout, a click or Enter on an error opens the right image
with the right box selected, flashed and centred; the empty states (no version, no holdout) and a real version's
own model run through the worker."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtTest import QTest

from detector_app.storage import Project
from detector_app.training.error_analysis import NO_HOLDOUT
from detector_app.ui.error_browser import NO_VERSION, ErrorBrowser
from detector_app.ui.main_window import MainWindow

from .ui_helpers import make_settings, write_image

pytestmark = pytest.mark.gui

# Three holdout images (640x480), labels drawn by a person; x1, y1, x2, y2.
TRUTH = {"a": [((100, 100, 200, 200), "cat"), ((300, 200, 400, 300), "dog")],
         "b": [((50, 50, 250, 250), "cat")],
         "c": [((100, 100, 400, 400), "dog")]}
# What the "model" says: a right cat and a dog called cat on a; a dog where nothing is on b (its cat missed);
# the right dog on c and a cat under the 0.5 threshold.
PREDICTED = {"a": [((100, 100, 200, 200), 0.9, "cat"), ((300, 200, 400, 300), 0.8, "cat")],
             "b": [((400, 300, 500, 400), 0.7, "dog")],
             "c": [((100, 100, 400, 400), 0.6, "dog"), ((500, 50, 550, 100), 0.3, "cat")]}


def _fill(project_dir: Path, holdout: bool = True, version: bool = True) -> dict[str, int]:
    with Project.open(project_dir) as project:
        repo = project.repo
        ids = {}
        for n, (name, labels) in enumerate(TRUTH.items()):
            ids[name] = repo.add_image(write_image(project_dir / "images" / f"{name}.jpg", seed=n)).id
            for (x1, y1, x2, y2), cls in labels:
                repo.add_annotation(ids[name], cls, (x1, y1, x2 - x1, y2 - y1))  # by a person: reviewed
        if holdout:
            repo.set_split(list(ids.values()), "test")
        if version:
            repo.add_model_version("v1", "retinanet_light", ["cat", "dog"])
    return ids


def _hand_made(ids: dict[str, int]):
    by_id = {ids[name]: boxes for name, boxes in PREDICTED.items()}

    def predict(samples: Sequence) -> list:
        out = []
        for sample in samples:
            boxes = by_id.get(sample.image_id, [])
            out.append((np.array([b for b, _, _ in boxes], np.float32).reshape(-1, 4),
                        np.array([s for _, s, _ in boxes], np.float32), [c for _, _, c in boxes]))
        return out

    return predict


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path):
    def make(**fill: bool) -> tuple[MainWindow, dict[str, int]]:
        ids = _fill(project_dir, **fill)
        win = MainWindow(make_settings(tmp_path), project_path=project_dir)
        qtbot.addWidget(win)
        win.resize(1200, 800)
        win.show()
        qtbot.waitExposed(win)
        made.append(win)
        return win, ids

    made: list[MainWindow] = []
    yield make
    for win in made:
        win.close()


def _open(qtbot, win: MainWindow, predict=None) -> ErrorBrowser:
    """Model › Errors on the holdout…; with ``predict``, the same dialog with a hand-made "model" in place of the
    version's weights. Waits for the analysis to end (results come through the event loop, so none is missed)."""
    if predict is not None:
        win.errors.browser = ErrorBrowser(win.project, win.tasks, parent=win, predict=predict)
        win.errors.browser.error_picked.connect(win.errors.show_error)
    win.errors.act_errors.trigger()
    with qtbot.waitSignal(win.errors.browser.analysis_done, timeout=60000):
        pass
    return win.errors.browser


def _matrix(browser: ErrorBrowser) -> list[list[int]]:
    m = browser.matrix
    return [[int(m.item(r, c).text()) for c in range(m.columnCount())] for r in range(m.rowCount())]


def test_hand_checked_matrix_and_a_click_opens_the_image_with_the_box_selected(qtbot, window) -> None:
    win, ids = window()
    assert win.errors.act_errors.text() == "Errors on the holdout…"
    model_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Model")
    assert win.errors.act_errors in model_menu.actions()
    browser = _open(qtbot, win, _hand_made(ids))
    labels = [browser.matrix.horizontalHeaderItem(c).text() for c in range(browser.matrix.columnCount())]
    assert labels == ["cat", "dog", "background"]
    #                      pred cat  dog  background
    assert _matrix(browser) == [[1, 0, 1],  # true cat: 1 right (a), 1 missed (b)
                                [1, 1, 0],  # true dog: 1 called cat (a), 1 right (c)
                                [0, 1, 0]]  # background: the dog on b where nothing is
    assert "v1 on 3 reviewed holdout images: 3 errors" in browser.status.text()
    assert "small (< 32² px) –" in browser.sizes.text() and "large (> 96² px) 0." in browser.sizes.text()
    rows = [[browser.errors.item(r, c).text() for c in range(5)] for r in range(browser.errors.rowCount())]
    assert rows == [["miss", "b.jpg", "cat", "", "40000"],  # biggest first
                    ["wrong class", "a.jpg", "cat (is dog)", "0.80", "10000"],
                    ["false positive", "b.jpg", "dog", "0.70", "10000"]]
    assert len(browser.plot.getPlotItem().listDataItems()) == 2  # a precision-recall curve per class

    repo = win.project.repo
    cat_on_b = next(a.id for a in repo.annotations_for_image(ids["b"]))
    dog_on_a = next(a.id for a in repo.annotations_for_image(ids["a"]) if a.category_name == "dog")
    rect = browser.errors.visualItemRect(browser.errors.item(0, 0))
    QTest.mouseClick(browser.errors.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.review.image_id == ids["b"] and win.canvas.selected_key() == cat_on_b  # the missed cat
    assert win.errors.flash.item.rect().getCoords() == (50, 50, 250, 250)

    browser.activateWindow()
    browser.errors.setFocus()
    browser.errors.setCurrentCell(1, 0)
    QTest.keyClick(browser.errors, Qt.Key.Key_Return)  # Enter opens too
    assert win.review.image_id == ids["a"] and win.canvas.selected_key() == dog_on_a  # the dog it called cat
    assert browser.isVisible()  # Enter pressed no dialog button

    browser.pick(2)  # the false positive: nothing there to select, the frame shows where, the view centred on it
    assert win.review.image_id == ids["b"] and win.canvas.selected_key() is None
    assert win.errors.flash.item.rect().getCoords() == (400, 300, 500, 400)
    canvas = win.canvas
    shown = canvas.mapFromScene(QRectF(400, 300, 100, 100)).boundingRect()
    assert canvas.viewport().rect().contains(shown) and canvas.transform().m11() > 1.0  # zoomed in, all in view
    centre = canvas.mapToScene(canvas.viewport().rect().center())
    assert abs(centre.x() - 450) < 6  # centred (vertically as far as the image's bottom edge lets the view go)
    win.show_image(ids["c"])
    assert win.errors.flash.item is None  # another image: the frame goes


def test_empty_states_no_version_then_no_holdout(qtbot, window) -> None:
    win, ids = window(holdout=False, version=False)
    browser = win.errors.open_browser()
    assert browser.status.text() == NO_VERSION and browser.version_combo.count() == 0
    assert not browser.run_button.isEnabled() and browser.worker is None
    browser.close()

    win.project.repo.add_model_version("v1", "retinanet_light", ["cat", "dog"])
    browser = _open(qtbot, win, _hand_made(ids))
    assert "No holdout yet" in browser.status.text() and "detector-app holdout" in browser.status.text()
    assert NO_HOLDOUT[1:] in browser.status.text() and "Traceback" not in browser.status.text()
    assert browser.holdout_button.isVisible() and browser.matrix.rowCount() == 0
    browser.holdout_button.click()  # three reviewed images are too few to draw one from: one clear line
    assert browser.status.text().startswith("No holdout: a holdout needs at least 5 reviewed images")
    assert win.project.repo.split_counts().get("test", 0) == 0


def test_a_real_version_runs_on_the_worker_and_cancel_stops_it(qtbot, window) -> None:
    """The version's own weights (random, every logit high so it finds boxes) predict the holdout on the worker."""
    import torch

    from detector_app.detection.presets import build_model
    from detector_app.training.versions import register_version

    win, ids = window(version=False)
    torch.manual_seed(0)
    model = build_model("retinanet_light", 3)
    with torch.no_grad():
        model.head.classification_head.cls_logits.bias.fill_(4.0)
    register_version(win.project, model, preset="retinanet_light", class_names=("cat", "dog"), parent_id=None,
                     settings={"size": 64}, metrics={}, activate=True)
    browser = _open(qtbot, win)
    assert browser.result is not None, browser.status.text()
    matrix = _matrix(browser)
    assert sum(map(sum, matrix[:2])) == 4  # each of the 4 labels is matched or missed exactly once
    assert browser.errors.rowCount() == len(browser.result.report.errors) > 0
    with qtbot.waitSignal(browser.analysis_done, timeout=10000):
        browser.run()
        browser.cancel()
    assert browser.status.text().startswith("Cancelled") and browser.result is None


def test_a_failure_is_one_line_in_the_dialog(qtbot, window) -> None:
    """A version whose weight file is gone: the worker's failure is the one-line reason, nothing else changes."""
    win, _ids = window()  # "v1" is a row without a weight file
    browser = _open(qtbot, win)
    assert browser.status.text() == "model version v1 has no weight file"
    assert browser.result is None and browser.matrix.rowCount() == 0 and not browser.holdout_button.isVisible()
    assert not browser.progress.isVisible() and browser.run_button.isEnabled()  # ready to try again
