"""Live sources through the real window (issue 12): the end of a video, Play/Pause, an image folder as a
labelling queue, stale panels, a stream that does not answer, the cameras present, and the threshold with
untrained weights."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QToolBar

from detector_app.detection.detector import Detector
from detector_app.plugins_api import get_manager
from detector_app.storage.project import Project
from detector_app.ui.main_window import MainWindow
from detector_app.ui.source_controller import END_OF_VIDEO

from .test_ui_live import light_detector, make_video  # noqa: F401 - light_detector is a fixture
from .ui_helpers import make_settings, seed_project, write_image

pytestmark = pytest.mark.gui


def _window(qtbot, tmp_path: Path, project_dir: Path, **settings: object) -> MainWindow:
    win = MainWindow(make_settings(tmp_path, **settings), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)
    return win


def _button(win: MainWindow, action):
    bar = next(b for b in win.findChildren(QToolBar) if b.objectName() == "sources")
    return bar.widgetForAction(action)


def test_end_of_video_play_restarts_and_seek_works_and_the_button_says_what_it_does(
        qtbot, tmp_path: Path, project_dir: Path, light_detector: Detector, monkeypatch) -> None:  # noqa: F811
    win = _window(qtbot, tmp_path, project_dir)
    win.set_detector(light_detector)
    play = _button(win, win.sources.act_play)
    capture_x = _button(win, win.act_capture).x()
    width = play.width()

    # Paused before anything is open: the button offers Play and keeps its place and width.
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    assert win.sources.act_play.text() == "Play" and win.sources.act_play.isChecked()
    assert play.width() == width and _button(win, win.act_capture).x() == capture_x

    # Opening a video (File › Open video…) plays it: the button says Pause again.
    video = make_video(tmp_path / "short.avi", frames=20, fps=25.0)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(video), ""))
    win.sources.act_video.trigger()
    assert win.sources.act_play.text() == "Pause" and not win.sources.act_play.isChecked()
    assert play.width() == width and _button(win, win.act_capture).x() == capture_x
    assert win.settings.value("source/recent")[0] == str(video)

    # The end: said in the banner, the button offers Play.
    qtbot.waitUntil(lambda: win.live.at_end, timeout=30_000)
    assert win.banner.text == END_OF_VIDEO
    assert win.sources.act_play.text() == "Play" and win.live.frame.index == 19
    assert win.live.running  # not a dead end: the source stays open

    # Play starts it again from the beginning.
    shown = win.live.frames_shown
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    assert win.sources.act_play.text() == "Pause" and END_OF_VIDEO not in win.banner.text
    qtbot.waitUntil(lambda: win.live.frames_shown > shown and win.live.frame.index < 15, timeout=10_000)
    qtbot.waitUntil(lambda: win.live.at_end, timeout=30_000)

    # Seeking after the end works (keyboard on the seek bar: Home goes to the first frame).
    win.seek_slider.setFocus()
    qtbot.keyClick(win.seek_slider, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: win.live.frame.index == 0, timeout=10_000)
    assert win.live.running and win.sources.act_play.text() == "Play"  # still paused, on the frame sought
    win.close()


def test_untrained_weights_say_so_and_the_threshold_reaches_zero_from_the_keyboard(
        qtbot, tmp_path: Path, project_dir: Path) -> None:
    win = _window(qtbot, tmp_path, project_dir)  # the settings choose untrained weights
    qtbot.waitUntil(lambda: win.detector is not None, timeout=60_000)
    assert "random weights do not find objects" in win.banner.text
    assert win.model.act_untrained.isChecked()
    win.threshold_slider.setValue(50)
    win.start_source(str(make_video(tmp_path / "clip.avi", frames=400)))
    qtbot.waitUntil(lambda: win.live.result is not None, timeout=60_000)
    qtbot.waitUntil(lambda: "below the threshold 0.50" in win.sources.status_note.text(), timeout=10_000)
    assert not win.canvas.box_items()
    note = win.sources.status_note.text()
    best = float(note.split("best score ")[1].rstrip(")"))
    assert 0.0 < best < 0.5

    # The keyboard moves the slider (the window's ←/→ image shortcuts do not take the keys): Home is 0.
    win.threshold_slider.setFocus()
    qtbot.keyClick(win.threshold_slider, Qt.Key.Key_Home)
    assert win.threshold_slider.value() == 0
    qtbot.keyClick(win.threshold_slider, Qt.Key.Key_Right)
    assert win.threshold_slider.value() == 1
    qtbot.keyClick(win.threshold_slider, Qt.Key.Key_Left)
    assert win.threshold_slider.value() == 0
    qtbot.waitUntil(lambda: len(win.canvas.box_items()) > 0, timeout=10_000)
    assert win.sources.status_note.text() == ""
    assert win.box_table.rowCount() == len(win.canvas.box_items())  # the table lists the live boxes
    assert {win.box_table.item(r, 2).text() for r in range(win.box_table.rowCount())} == {"live"}
    win.close()
    assert win.settings.value("view/threshold", type=int) == 0


def test_an_image_folder_becomes_a_labelling_queue(qtbot, tmp_path: Path, project_dir: Path, monkeypatch) -> None:
    folder = tmp_path / "shots"
    paths = [write_image(folder / f"img_{i}.jpg", 320, 240, seed=i) for i in range(3)]
    win = _window(qtbot, tmp_path, project_dir)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    win.sources.act_folder.trigger()
    qtbot.waitUntil(lambda: win.review.image_id is not None, timeout=30_000)
    assert not win.live.running  # not played as a video
    repo = win.project.repo
    images = repo.list_images(state="all")
    assert sorted(Path(i.path).name for i in images) == [p.name for p in paths]
    assert {i.origin for i in images} == {"file"}
    first = repo.get_image(win.review.image_id)
    assert Path(first.path).name == "img_0.jpg"
    assert "3 images of shots are in the project" in win.banner.text

    win.images.act_next.trigger()  # N
    assert Path(repo.get_image(win.review.image_id).path).name == "img_1.jpg"
    win.images.act_next.trigger()
    win.images.act_next.trigger()  # stays on the last one
    assert Path(repo.get_image(win.review.image_id).path).name == "img_2.jpg"
    win.images.act_prev.trigger()  # P
    assert Path(repo.get_image(win.review.image_id).path).name == "img_1.jpg"
    assert win.source_spec == str(folder)  # Detect all… runs over the folder

    win.start_source(str(folder))  # again: nothing is added twice
    qtbot.waitUntil(lambda: "3 images of shots" in win.banner.text, timeout=30_000)
    assert repo.count_images(state="all") == 3
    win.close()


def test_live_view_replaces_stale_panels_and_banner(qtbot, tmp_path: Path, project_dir: Path,
                                                     light_detector: Detector) -> None:  # noqa: F811
    image_id = seed_project(project_dir)
    win = _window(qtbot, tmp_path, project_dir)
    win.set_detector(light_detector)
    win.threshold_slider.setValue(5)
    win.show_image(image_id)
    assert win.box_table.rowCount() == 2  # the image's two predictions

    win.start_source("webcam:9")  # no such camera
    qtbot.waitUntil(lambda: "webcam 9" in win.banner.text, timeout=30_000)
    win.start_source(str(make_video(tmp_path / "clip.avi", frames=400)))
    assert "webcam" not in win.banner.text  # the old source's error is gone
    qtbot.waitUntil(lambda: win.live.result is not None and len(win.canvas.box_items()) > 0, timeout=60_000)
    states = {win.box_table.item(r, 2).text() for r in range(win.box_table.rowCount())}
    assert states == {"live"} and win.box_table.rowCount() == len(win.canvas.box_items())
    with Project.open(project_dir, create=False) as project:
        assert len(project.repo.annotations_for_image(image_id)) == 2  # nothing stored by looking
    win.close()


@pytest.mark.usefixtures("fresh_plugins")
def test_a_stream_that_does_not_answer_says_connecting_and_stop_cancels_at_once(
        qtbot, tmp_path: Path, project_dir: Path) -> None:
    plugin = get_manager().sources()["stream"]
    plugin.reconnect_attempts, plugin.reconnect_delay_s, plugin.timeout_s = 0, 0.1, 4.0
    silent = socket.socket()  # accepts connections, never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    url = f"http://user:secret@127.0.0.1:{silent.getsockname()[1]}/video.mjpg"
    try:
        win = _window(qtbot, tmp_path, project_dir)
        win.start_source(url)
        assert win.banner.text.startswith("Connecting to http://user:***@127.0.0.1")
        assert "secret" not in win.banner.text
        qtbot.wait(500)
        started = time.monotonic()
        win.act_stop.trigger()
        assert time.monotonic() - started < 1.0  # Stop does not wait for the connection attempt
        assert not win.live.running and win.banner.text == "Stopped connecting."
        qtbot.wait(5000)  # the abandoned attempt times out meanwhile: its failure is not shown
        assert "cannot connect" not in win.banner.text
        win.close()
    finally:
        silent.close()


def test_the_camera_list_shows_the_cameras_present_and_a_manual_index(
        qtbot, tmp_path: Path, project_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr("detector_app.ui.cameras.list_cameras", lambda: [0, 2])
    win = _window(qtbot, tmp_path, project_dir)
    combo = win.webcam_combo
    qtbot.waitUntil(lambda: win.sources.cameras.found is not None, timeout=10_000)
    assert [combo.itemText(i) for i in range(combo.count())] == ["Camera 0", "Camera 2", "Other camera index…"]
    combo.setCurrentIndex(1)
    win.sources.act_webcam.trigger()
    assert win.source_spec == "webcam:2" and win.settings.value("source/camera") in (2, "2")
    qtbot.waitUntil(lambda: "webcam 2" in win.banner.text, timeout=30_000)

    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (5, True))
    combo.setCurrentIndex(2)
    win.sources.act_webcam.trigger()
    assert win.source_spec == "webcam:5" and win.settings.value("source/camera") in (5, "5")
    win.live.stop()
    win.close()
