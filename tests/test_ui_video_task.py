"""A video as a labelling task in the real window: File › Label a video…, stepping with the keys, a drawn box
that starts a track, a moved box that becomes a keyframe, interpolation in between, copy from the previous
frame, ending a track, undo/redo of each, and exports (COCO read back with pycocotools, MOT), each checked
against the database and the files. Propagate with a real detector is in test_ui_video_propagate.py."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import motmetrics
import pytest
from pycocotools.coco import COCO
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from detector_app.core.tracks import BoxKind
from detector_app.ui.main_window import MainWindow
from detector_app.ui.video_timeline import VideoTimeline

from .helpers_detection import write_video
from .ui_helpers import drag, make_settings

pytestmark = pytest.mark.gui

FRAMES = 30


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, project_dir: Path) -> MainWindow:
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)  # closed mid-load
    win.project.repo.ensure_category("car")
    return win


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi", frames=FRAMES)  # a green square moving 3 px a frame


def press(win: MainWindow, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A key on the canvas, the window active (window shortcuts do not reach a window behind a dialog)."""
    win.activateWindow()
    QTest.qWaitForWindowActive(win)
    QTest.keyClick(win.canvas.viewport(), key, modifier)


def stored(win: MainWindow) -> list[tuple[int, int | None, tuple, bool, str]]:
    """Every box stored on the video's frames: (frame, track, box, keyframe, status)."""
    return [(b.frame, b.track_id, rounded(b.bbox), b.keyframe, b.status)
            for b in win.video.tasks.store.stored_boxes(win.video.video.id)]


def rounded(bbox: tuple) -> tuple:
    """To the pixel: a drag lands within a fraction of a pixel of its target (view to image scaling)."""
    return tuple(float(round(v)) for v in bbox)


def shown_kinds(win: MainWindow, frame: int) -> list[tuple[BoxKind, tuple]]:
    win.video.go_to(frame)
    return [(b.kind, rounded(b.bbox)) for b in win.video.shown]


def open_clip(win: MainWindow, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(clip), "")))
    win.video.actions.act_label_video.trigger()  # File › Label a video…


def test_label_a_video_steps_keyframes_interpolates_and_undoes(window: MainWindow, clip: Path, qtbot: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    win, repo = window, window.project.repo
    assert not win.timeline.isVisible()
    open_clip(win, clip, monkeypatch)
    video = win.video.video
    assert win.video.active and win.timeline.isVisible() and win.stack.currentWidget() is win.canvas
    assert (video.frame_count, video.width, video.height) == (FRAMES, 160, 120)
    assert repo.count_images() == 0 and len(win.video.tasks.store.videos()) == 1  # one row, no frame copied
    assert "Frame 1 / 30" in win.video.status.text() and "0 tracks" in win.video.status.text()

    press(win, Qt.Key.Key_Right)
    assert win.video.frame == 1
    press(win, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert win.video.frame == 11
    press(win, Qt.Key.Key_End)
    assert win.video.frame == FRAMES - 1
    press(win, Qt.Key.Key_Left)
    assert win.video.frame == FRAMES - 2
    press(win, Qt.Key.Key_Home)
    assert win.video.frame == 0
    assert not win.images.act_next2.isEnabled()  # Right steps frames here, not images

    win.video.go_to(2)
    win.act_draw.trigger()  # D, then a drag: a new track with its first keyframe
    assert win.canvas.draw_mode
    drag(win, win.canvas, (10, 20), (50, 60))
    win.act_draw.trigger()
    (track,) = win.video.tasks.store.tracks(video.id)
    assert track.category_name == "car" and track.ended_at_frame is None
    assert stored(win) == [(2, track.id, (10.0, 20.0, 40.0, 40.0), True, "accepted")]
    assert repo.count_images() == 1  # the frame got its row with its first box

    win.video.go_to(12)  # held after the last keyframe: interpolated (dotted) until another keyframe
    assert [i.spec.status for i in win.canvas.box_items()] == [BoxKind.INTERPOLATED.value]
    drag(win, win.canvas, (30, 40), (60, 50))  # move it: a keyframe at 12
    assert stored(win)[1] == (12, track.id, (40.0, 30.0, 40.0, 40.0), True, "accepted")
    assert shown_kinds(win, 7) == [(BoxKind.INTERPOLATED, (25.0, 25.0, 40.0, 40.0))]  # halfway
    assert [i.spec.status for i in win.canvas.box_items()] == [BoxKind.INTERPOLATED.value]
    (line,) = win.timeline.lines
    assert line.keyframes == (2, 12) and line.span == (2, FRAMES) and "1 track" in win.video.status.text()

    win.activateWindow()
    QTest.keyClick(win.canvas.viewport(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the move
    assert [s[0] for s in stored(win)] == [2] and win.video.frame == 12
    assert shown_kinds(win, 7) == [(BoxKind.INTERPOLATED, (10.0, 20.0, 40.0, 40.0))]
    win.undo_stack.undo()  # the new track
    assert stored(win) == [] and win.video.tasks.store.tracks(video.id) == []
    win.undo_stack.redo()
    win.undo_stack.redo()
    assert [s[0] for s in stored(win)] == [2, 12] and shown_kinds(win, 7)[0][1] == (25.0, 25.0, 40.0, 40.0)

    # a click on the timeline seeks; the image list's frame opens the video there
    timeline: VideoTimeline = win.timeline
    QTest.mouseClick(timeline, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(int(timeline.x_of(20.5)), 10))
    assert win.video.frame == 20
    win.video.leave()
    assert not win.timeline.isVisible() and win.images.act_next2.isEnabled()
    frame_image = next(i for i in repo.list_images(limit=10) if i.frame_index == 12)
    win.show_image(frame_image.id)
    assert win.video.active and win.video.frame == 12 and "cannot" not in win.banner.text


def test_copy_previous_end_track_and_export(window: MainWindow, clip: Path, qtbot: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    win = window
    open_clip(win, clip, monkeypatch)
    v = win.video.video.id
    win.video.go_to(4)
    win.act_draw.trigger()
    drag(win, win.canvas, (5, 30), (45, 80))
    win.act_draw.trigger()
    (track,) = win.video.tasks.store.tracks(v)
    win.video.go_to(5)
    press(win, Qt.Key.Key_C)  # copy boxes from the previous frame: a keyframe at 5
    assert [(s[0], s[3]) for s in stored(win)] == [(4, True), (5, True)]
    press(win, Qt.Key.Key_C)  # again: nothing new (its box is here)
    assert len(stored(win)) == 2 and "Nothing to copy" in win.banner.text
    win.video.go_to(15)
    win.canvas.select(track.id)
    drag(win, win.canvas, (25, 55), (55, 55))  # a keyframe at 15, 30 px to the right
    win.video.go_to(10)
    win.canvas.select(track.id)
    press(win, Qt.Key.Key_E)  # end the track here: frames 4..9 stay as they were shown
    shown_before_9 = (5 + 30 * 4 / 10, 30.0, 40.0, 50.0)
    assert win.video.tasks.store.get_track(track.id).ended_at_frame == 10
    assert shown_kinds(win, 10) == [] and shown_kinds(win, 20) == []
    assert shown_kinds(win, 9) == [(BoxKind.KEYFRAME, shown_before_9)]  # stored: it was interpolated towards 15
    assert [s[0] for s in stored(win)] == [4, 5, 9]
    (line,) = win.timeline.lines
    assert line.span == (4, 10) and line.track.ended_at_frame == 10
    win.undo_stack.undo()
    assert win.video.tasks.store.get_track(track.id).ended_at_frame is None and [s[0] for s in stored(win)] == [
        4, 5, 15]
    win.undo_stack.redo()
    assert win.video.tasks.store.get_track(track.id).ended_at_frame == 10

    # Export through File › Export labels…: COCO with a track id on each box, and MOT gt.txt
    for fmt, folder in (("coco", tmp_path / "coco"), ("mot", tmp_path / "mot")):
        win.projects.act_export.trigger()
        dialog = win.projects.export_dialog
        dialog.format.setCurrentText(fmt)
        dialog.folder.setText(str(folder))
        dialog.export_button.click()
    coco = COCO(str(tmp_path / "coco" / "instances.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    frames = sorted(coco.imgs[a["image_id"]]["frame_id"] for a in anns)
    assert frames == list(range(4, 10)) and {a["track_id"] for a in anns} == {track.id}
    by_frame = {coco.imgs[a["image_id"]]["frame_id"]: a["bbox"] for a in anns}
    assert by_frame[9] == pytest.approx(list(shown_before_9), abs=0.5)
    assert by_frame[4] == pytest.approx([5, 30, 40, 50], abs=0.5)
    assert json.loads((tmp_path / "coco" / "instances.json").read_text())["videos"][0]["name"] == "clip.avi"
    rows = motmetrics.io.loadtxt(str(tmp_path / "mot" / "clip" / "gt" / "gt.txt"), fmt="mot15-2D")
    mine = rows.xs(track.id, level="Id")
    assert mine.index.tolist() == list(range(5, 11))  # MOT frames are 1-based
    assert mine.loc[10][["X", "Y", "Width", "Height"]].tolist() == pytest.approx(list(shown_before_9), abs=0.5)

    # the labelled frames are project images; their thumbnails are decoded from the video (they have no file)
    win.images.queue_combo.setCurrentIndex(win.images.queue_combo.findData("all"))
    model = win.image_model
    assert model.rowCount() == 3
    for row in range(3):
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)
    assert model.wait_for_thumbnails()
    qtbot.waitUntil(lambda: all(model._thumbs.get(model.image_id(r)) is not None for r in range(3)))
    for row in range(3):
        thumb = model.data(model.index(row), Qt.ItemDataRole.DecorationRole).pixmap(64, 64).toImage()
        assert thumb.pixelColor(2, 2).getRgb()[:3] == pytest.approx((40, 40, 40), abs=6)  # the clip's background

    win.project.repo.ensure_category("person")
    win.video.go_to(25)
    next(a for a in win.actions() if a.text() == "Class 2").trigger()  # key 2: the class of the next track drawn
    win.act_draw.trigger()
    drag(win, win.canvas, (100, 10), (130, 60))
    assert [t.category_name for t in win.video.tasks.store.tracks(v)] == ["car", "person"]
    win.act_draw.trigger()
    win.canvas.select(win.video.tasks.store.tracks(v)[1].id)
    next(a for a in win.actions() if a.text() == "Class 1").trigger()  # key 1 on a selected track: its class
    assert [t.category_name for t in win.video.tasks.store.tracks(v)] == ["car", "car"]
    assert [b.category_name for b in win.video.shown] == ["car"] and win.undo_stack.undoText() == "Change class"
    win.undo_stack.undo()
    assert [t.category_name for t in win.video.tasks.store.tracks(v)] == ["car", "person"]


def test_zooming_stepping_and_reopening_keep_the_canvas_sound(window: MainWindow, clip: Path) -> None:
    """Zoom, steps, seeks and leaving/reopening the video, with events in between: each paints the boxes of the
    frame shown (a stale scene index once kept removed boxes, and a paint crashed on them)."""
    win, app = window, QApplication.instance()
    video = win.video.open_video(clip)
    for k in range(6):
        track = win.video.tasks.new_track(video.id, 3 * k, "car", (5 + 10 * k, 20, 30, 30)).tracks_after[0]
        win.video.tasks.set_box(track.id, 20, (50, 50 + 5 * k, 40, 30))
    win.video.refresh(0)
    rng = random.Random(0)
    for _ in range(300):
        r = rng.random()
        if r < 0.3:
            win.canvas.zoom(rng.choice([0.5, 0.8, 1.5, 2.0]))
        elif r < 0.5:
            win.video.go_to(rng.randrange(FRAMES))
        elif r < 0.6:
            win.video.leave()
            win.video.show(video.id, rng.randrange(FRAMES))
        elif r < 0.7:
            win.canvas.select(rng.randrange(1, 7))
        else:
            win.video.step(rng.choice([1, -1, 10, -10]))
        if rng.random() < 0.5:
            app.processEvents()
        keys = sorted(i.spec.key for i in win.canvas.box_items())
        assert keys == sorted(b.track_id for b in win.video.tasks.boxes_at(video.id, win.video.frame))
    app.processEvents()
