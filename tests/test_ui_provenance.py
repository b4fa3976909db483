"""Provenance through the real review widgets: each kind of correction (accepted, adjusted, relabelled, rejected,
drawn) made with the mouse and keys, then checked in the database row (its proposal columns) and with
``core.provenance.correction_action``; undo and redo keep the proposal; review time with an injected clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy import select

from detector_app.core.detections import Detections
from detector_app.core.provenance import Action, correction_action
from detector_app.review.review_clock import ReviewClock
from detector_app.storage import Project
from detector_app.storage.models import Annotation
from detector_app.ui.main_window import MainWindow

from .fake_clock import T0, FakeTime
from .ui_helpers import active_window, click, drag, make_settings, write_image

pytestmark = pytest.mark.gui

CAT = (100.0, 100.0, 200.0, 150.0)  # the proposals, COCO x, y, w, h
DOG = (350.0, 200.0, 150.0, 200.0)
@pytest.fixture
def ids(project_dir: Path) -> dict[str, int]:
    """Image a: cat 0.9 and dog 0.8 proposed by version v1; image b: one cat by v1; classes cat, dog, bird."""
    with Project.open(project_dir) as project:
        repo = project.repo
        version = repo.add_model_version("v1", "retinanet_light", ["cat", "dog"]).id
        a = repo.add_image(write_image(project_dir / "images" / "a.jpg")).id
        b = repo.add_image(write_image(project_dir / "images" / "b.jpg", seed=1)).id
        for name in ("cat", "dog", "bird"):
            repo.ensure_category(name)
        names = ("__background__", "cat", "dog")
        repo.add_predictions(a, Detections(np.array([[100, 100, 300, 250], [350, 200, 500, 400]], np.float32),
                                           np.array([0.9, 0.8]), np.array([1, 2]), names), model_version_id=version)
        repo.add_predictions(b, Detections(np.array([[50, 50, 150, 150]], np.float32), np.array([0.7]),
                                           np.array([1]), names), model_version_id=version)
        cat, dog = repo.annotations_for_image(a)
        categories = {c.name: c.id for c in repo.categories()}
        return {"a": a, "b": b, "version": version, "cat": cat.id, "dog": dog.id, **categories}


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path, ids: dict[str, int], time: FakeTime):
    win = active_window(qtbot, make_settings(tmp_path), project_dir)
    win.queue_combo.setCurrentIndex(1)  # all images
    win.review.clock = ReviewClock(time)  # before the first image is shown
    win.show_image(ids["a"])
    yield win
    win.close()


def key(win: MainWindow, k: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(win, k, modifier)


def row(win: MainWindow, annotation_id: int) -> Annotation:
    """The database row itself, read with SQL (not through the record the repository builds)."""
    with win.project.repo.reading() as s:
        found = s.scalars(select(Annotation).where(Annotation.id == annotation_id)).one()
        s.expunge(found)
        return found


def proposal(r: Annotation) -> tuple[object, ...]:
    return (r.proposal_x, r.proposal_y, r.proposal_w, r.proposal_h, r.proposal_category_id, r.proposal_score)


def done_to(r: Annotation):  # noqa: ANN201 (a Correction)
    bbox = (r.x, r.y, r.w, r.h)
    prop = None if r.proposal_x is None else (r.proposal_x, r.proposal_y, r.proposal_w, r.proposal_h)
    return correction_action(r.origin, r.status, bbox, r.category_id, prop, r.proposal_category_id)


def cat_proposal(ids: dict[str, int]) -> tuple[object, ...]:
    return (*CAT, ids["cat"], pytest.approx(0.9))


def test_accept_as_is(window: MainWindow, ids: dict[str, int]) -> None:
    click(window.canvas, (200, 175))
    key(window, Qt.Key.Key_A)
    r = row(window, ids["cat"])
    assert (r.status, (r.x, r.y, r.w, r.h), proposal(r)) == ("accepted", CAT, cat_proposal(ids))
    assert done_to(r).action == Action.ACCEPTED and done_to(r).iou == 1.0
    assert window.project.repo.get_annotation(ids["cat"]).correction == done_to(r)


def test_adjust_by_dragging_and_resizing(window: MainWindow, ids: dict[str, int]) -> None:
    canvas = window.canvas
    canvas.resetTransform()  # 1:1 zoom: a screen pixel is an image pixel, so the drag is exact
    canvas.centerOn(320, 240)
    drag(window, canvas, (200, 175), (240, 175))  # 40 px to the right
    r = row(window, ids["cat"])
    assert (r.status, (r.x, r.y, r.w, r.h), proposal(r)) == ("corrected", (140, 100, 200, 150), cat_proposal(ids))
    # By hand: overlap x 140..300 = 160 wide, 150 high = 24000; union 30000 + 30000 - 24000 = 36000.
    assert done_to(r).action == Action.ADJUSTED and done_to(r).iou == pytest.approx(24000 / 36000)

    drag(window, canvas, (340, 250), (300, 250))  # bottom-right handle 40 px left: back to x 140..300
    r = row(window, ids["cat"])
    assert (r.x, r.y, r.w, r.h) == (140, 100, 160, 150)
    # Overlap 160 x 150 = 24000 is the whole box; union 30000 (the proposal holds it).
    assert done_to(r) == correction_action("model", "corrected", (140, 100, 160, 150), ids["cat"], CAT, ids["cat"])
    assert done_to(r).action == Action.ADJUSTED and done_to(r).iou == pytest.approx(24000 / 30000)


def test_relabel(window: MainWindow, ids: dict[str, int]) -> None:
    click(window.canvas, (200, 175))
    key(window, Qt.Key.Key_2)  # the second class: dog
    r = row(window, ids["cat"])
    assert (r.category_id, r.status, proposal(r)) == (ids["dog"], "corrected", cat_proposal(ids))
    assert done_to(r).action == Action.RELABELLED and done_to(r).iou == 1.0


def test_reject(window: MainWindow, ids: dict[str, int]) -> None:
    window.canvas.select(ids["dog"])
    key(window, Qt.Key.Key_R)
    r = row(window, ids["dog"])
    assert (r.status, proposal(r)) == ("rejected", (*DOG, ids["dog"], pytest.approx(0.8)))
    assert done_to(r).action == Action.REJECTED


def test_draw_new(window: MainWindow, ids: dict[str, int]) -> None:
    key(window, Qt.Key.Key_D)
    drag(window, window.canvas, (20, 300), (80, 420))
    key(window, Qt.Key.Key_D)
    (new,) = [a for a in window.project.repo.annotations_for_image(ids["a"]) if a.id not in (ids["cat"], ids["dog"])]
    r = row(window, new.id)
    assert (r.origin, r.status, proposal(r)) == ("human", "accepted", (None,) * 6)
    assert done_to(r).action == Action.DRAWN


def test_undo_and_redo_keep_the_proposal(window: MainWindow, ids: dict[str, int]) -> None:
    click(window.canvas, (200, 175))
    key(window, Qt.Key.Key_3)  # relabelled bird
    drag(window, window.canvas, (200, 175), (240, 205))  # and moved
    moved = row(window, ids["cat"])
    assert proposal(moved) == cat_proposal(ids) and done_to(moved).action == Action.RELABELLED
    key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    back = row(window, ids["cat"])
    assert ((back.x, back.y, back.w, back.h), back.status, proposal(back)) == (CAT, "predicted", cat_proposal(ids))
    assert done_to(back).action == Action.PENDING
    key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    key(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    again = row(window, ids["cat"])
    assert ((again.x, again.y, again.w, again.h), again.category_id) == ((moved.x, moved.y, moved.w, moved.h),
                                                                           ids["bird"])
    assert proposal(again) == cat_proposal(ids) and done_to(again) == done_to(moved)


def test_review_time_open_to_done(window: MainWindow, ids: dict[str, int], time: FakeTime) -> None:
    """Open a, act after 12 s, idle 5 minutes, act after 8 s more: done. Stored: 12 + 8 = 20 s, the 300 s left out."""
    repo = window.project.repo
    time.wait(12)
    click(window.canvas, (200, 175))
    key(window, Qt.Key.Key_A)  # the cat accepted; the dog is selected next
    time.wait(300)
    time.wait(8)
    QTest.mouseMove(window.canvas.viewport(), window.canvas.mapFromScene(420, 300))  # back at the canvas
    assert window.review.clock.carried_seconds(ids["a"]) == 12.0  # the idle gap counted nothing
    time.wait(8)
    key(window, Qt.Key.Key_A)  # the dog accepted: nothing left to review, the image is done
    assert window.review.image_id == ids["b"]  # on to the next image
    (timing,) = repo.review_times()
    assert (timing.image_id, timing.model_version_id) == (ids["a"], ids["version"])
    assert timing.annotator == window.review.annotator  # who reviews, as the window knows them (None: unknown)
    assert timing.seconds == 20.0
    assert (timing.started_at, timing.finished_at) == (T0, T0 + timedelta(seconds=328))


def test_time_of_an_earlier_visit_is_carried_to_the_done_one(window: MainWindow, ids: dict[str, int],
                                                            time: FakeTime) -> None:
    repo = window.project.repo
    time.wait(30)
    window.show_image(ids["b"])  # a left after 30 s, not done
    time.wait(5)
    window.show_image(ids["a"])  # back
    time.wait(10)
    window.images.review_accept_all()  # done
    (timing,) = repo.review_times(ids["a"])
    assert (timing.seconds, timing.started_at, timing.finished_at) == (40.0, T0, T0 + timedelta(seconds=45))
