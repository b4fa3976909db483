"""Issue 12 #6: no stale label fragments on the canvas after a move, reject, relabel, threshold change or zoom.

What a person sees is what the window's backing store holds after Qt's partial repaints; each check grabs it,
then forces a full repaint and grabs again: any pixel that differs was left behind by an item that painted
outside its ``boundingRect`` (the cause: the tag, wider than the box or taller than a fixed margin).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from detector_app.storage import Project
from detector_app.ui.box_item import BoxSpec
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.main_window import MainWindow

from .ui_helpers import drag, make_settings, seed_project

pytestmark = pytest.mark.gui

LONG = "a very long class name"


def screen_pixels(canvas: AnnotationCanvas) -> np.ndarray:
    """The canvas viewport's pixels as the window's backing store holds them (only the viewport: the rest of a
    main window, e.g. a status bar saying the model finished loading, may change between two grabs)."""
    viewport = canvas.viewport()
    at = viewport.mapTo(viewport.window(), QPoint(0, 0))
    image = viewport.screen().grabWindow(viewport.window().winId(), at.x(), at.y(), viewport.width(),
                                         viewport.height()).toImage().convertToFormat(QImage.Format.Format_RGB32)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 4].copy()


def settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(10)


def stale_pixels(canvas: AnnotationCanvas, qtbot) -> int:
    """Pixels on screen that a full repaint changes: what partial repaints left behind."""
    settle(qtbot)
    shown = screen_pixels(canvas)
    canvas.viewport().update()
    settle(qtbot)
    return int(np.count_nonzero((shown != screen_pixels(canvas)).any(axis=1)))


def full_repaint(canvas: AnnotationCanvas, qtbot) -> None:
    """As after a zoom, a resize or a window expose: every item paints all it paints."""
    canvas.viewport().update()
    settle(qtbot)


@pytest.fixture
def canvas(qtbot) -> AnnotationCanvas:
    view = AnnotationCanvas()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(np.full((480, 640, 3), 40, np.uint8), fit=True)
    return view


def spec(label: str = LONG, bbox=(100, 200, 30, 30), status: str = "predicted") -> BoxSpec:
    return BoxSpec(1, bbox, label, 0.93, status, (255, 200, 0))


@pytest.mark.parametrize("zoom", [1.0, 0.3, 4.0])
def test_removing_or_relabelling_a_box_leaves_no_tag_behind(canvas: AnnotationCanvas, qtbot, zoom: float) -> None:
    canvas.zoom(zoom)
    canvas.set_boxes([spec()], editable=True)
    full_repaint(canvas, qtbot)
    canvas.set_boxes([spec("x")], editable=True)  # relabel: a shorter tag
    assert stale_pixels(canvas, qtbot) == 0
    full_repaint(canvas, qtbot)
    canvas.set_boxes([spec(LONG)], editable=True)
    full_repaint(canvas, qtbot)
    canvas.set_boxes([], editable=True)  # reject / threshold: the box goes
    assert stale_pixels(canvas, qtbot) == 0


def test_bounding_rect_covers_the_tag_at_every_zoom(canvas: AnnotationCanvas) -> None:
    canvas.set_boxes([spec()], editable=True)
    item = canvas.item_for(1)
    for factor in (1.0, 0.2, 8.0):
        canvas.zoom(factor)
        tag = item._tag_geometry()[0]
        assert item.boundingRect().contains(tag)
        assert tag.width() > item.rect().width()  # the case that left fragments: a tag wider than its box


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path):
    image_id = seed_project(project_dir)
    with Project.open(project_dir) as project:
        project.repo.rename_category(project.repo.categories()[1].id, "dog with a very long class name")
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    # The model loads on a worker; its note (untrained weights) then takes room from the canvas: let it come first.
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)
    settle(qtbot)
    win.show_image(image_id)
    yield win
    win.close()


def test_move_reject_relabel_and_threshold_leave_a_clean_canvas(window: MainWindow, qtbot) -> None:
    win, canvas = window, window.canvas
    cat_id, dog_id = sorted(a.id for a in win.project.repo.annotations_for_image(win.review.image_id))
    full_repaint(canvas, qtbot)
    drag(win, canvas, (425, 300), (445, 330))  # move the dog box and its long tag
    assert win.project.repo.get_annotation(dog_id).status == "corrected"
    assert stale_pixels(canvas, qtbot) == 0
    full_repaint(canvas, qtbot)
    QTest.keyClick(win, Qt.Key.Key_1)  # relabel it: the long tag becomes "cat"
    assert win.project.repo.get_annotation(dog_id).category_name == "cat"
    assert stale_pixels(canvas, qtbot) == 0
    QTest.keyClick(win, Qt.Key.Key_2)  # and back to the long name
    full_repaint(canvas, qtbot)
    QTest.keyClick(win, Qt.Key.Key_R)  # reject: the box and its tag go
    assert win.project.repo.get_annotation(dog_id).status == "rejected"
    assert stale_pixels(canvas, qtbot) == 0
    full_repaint(canvas, qtbot)
    win.threshold_slider.setValue(95)  # the cat prediction (0.9) falls below the threshold
    assert canvas.item_for(cat_id) is None
    assert stale_pixels(canvas, qtbot) == 0
