"""Live view, batch detection with cancel, a missing webcam and a 10,000-image project, on real widgets."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import load_model
from detector_app.storage.project import Project
from detector_app.ui.main_window import MainWindow

from .ui_helpers import make_settings

pytestmark = pytest.mark.gui


def make_video(path: Path, frames: int = 40, size: tuple[int, int] = (320, 240), fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 60, np.uint8)
        cv2.circle(image, (20 + 6 * i % size[0], size[1] // 2), 25, (0, 0, 255), -1)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def light_detector() -> Detector:
    loaded = load_model("retinanet_light", class_names=["__background__", "ball", "box"], weights="none", seed=0)
    # Without the focal-loss prior every random score would sit near 0.01: lift them into view.
    loaded.model.head.classification_head.cls_logits.bias.data.fill_(-1.0)
    return Detector(loaded, DetectorConfig(size=320, score_threshold=0.0, max_detections=20))


@pytest.fixture
def window(qtbot, tmp_path: Path, project_dir: Path, light_detector: Detector):
    win = MainWindow(make_settings(tmp_path), project_path=project_dir)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.detector is not None or win.banner.isVisible(), timeout=60_000)
    win.set_detector(light_detector)  # a fixed, fast model for every test here
    win.threshold_slider.setValue(5)
    yield win
    win.close()


def test_video_plays_with_overlays_and_capture_stores_the_frame(window: MainWindow, qtbot, tmp_path: Path) -> None:
    win = window
    win.start_source(str(make_video(tmp_path / "clip.avi", frames=200)))
    qtbot.waitUntil(lambda: win.live.result is not None and len(win.canvas.box_items()) > 0, timeout=60_000)
    assert win.live.frames_shown > 0
    assert "detector" in win.status_rates.text()

    # The threshold applies at once to what is already on screen.
    win.threshold_slider.setValue(95)
    expected = len(win.live.result.detections.without_background().with_min_score(0.95))
    assert len(win.canvas.box_items()) == expected

    win.threshold_slider.setValue(5)
    result = win.live.result
    win.capture_frame()
    win.live.stop()
    images = win.project.repo.list_images(state="all")
    assert len(images) == 1 and images[0].origin == "video" and images[0].frame_index == result.frame.index
    stored = win.project.repo.annotations_for_image(images[0].id)
    assert len(stored) == len(result.detections.without_background().with_min_score(0.05)) > 0
    assert {a.status for a in stored} <= {"predicted"}
    assert Path(images[0].path).is_file()
    assert win.recent_sources()[0].endswith("clip.avi")  # remembered for File › Recent sources


def test_missing_webcam_shows_a_message_and_the_app_keeps_working(window: MainWindow, qtbot,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QInputDialog

    win = window
    win.webcam_combo.setCurrentIndex(win.webcam_combo.findData("other"))  # "Other camera index…"
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: (3, True))
    win.start_webcam()
    assert win.source_spec == "webcam:3"
    qtbot.waitUntil(lambda: win.banner.isVisible() and "webcam" in win.banner.text.lower(), timeout=30_000)
    qtbot.waitUntil(lambda: not win.live.running or win.live.player is not None, timeout=5000)
    win.live.stop()
    win.refresh_image_list()  # still responsive and usable
    assert win.isVisible()


def test_batch_cancel_stops_within_one_inference_and_keeps_what_was_stored(
        window: MainWindow, qtbot, tmp_path: Path) -> None:
    win = window
    video = make_video(tmp_path / "batch.avi", frames=400)
    win.source_spec = str(video)
    t0 = time.monotonic()
    win.run_batch()
    dialog = win.sources.detect_all.dialog  # Detect all… asks first (tests/test_ui_detect_all.py)
    dialog.only_detections.setChecked(False)  # every frame is stored: this test counts them
    dialog.start_button.click()
    batch = win.batch
    qtbot.waitUntil(lambda: batch.worker.processed >= 3, timeout=60_000)
    per_frame = (time.monotonic() - t0) / batch.worker.processed  # an upper bound on one inference
    from PySide6.QtWidgets import QPushButton

    at_cancel = batch.worker.processed
    started = time.monotonic()
    batch.dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    assert batch.wait(30_000)
    elapsed = time.monotonic() - started
    qtbot.waitUntil(lambda: win.batch is None, timeout=10_000)
    # At most the inference in flight finishes; nothing after it starts.
    assert batch.worker.processed <= at_cancel + 1
    assert elapsed < 2 * per_frame + 1.0, (elapsed, per_frame)
    # Everything that was processed is stored, and nothing more.
    assert win.project.repo.count_images(state="all") == batch.worker.processed < 400
    assert "Stopped" in win.banner.text


def test_ten_thousand_images_open_without_reading_their_pixels(qtbot, tmp_path: Path, project_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    tile = np.full((24, 32, 3), 128, np.uint8)
    ok, encoded = cv2.imencode(".png", tile)
    for i in range(10_000):
        (folder / f"img_{i:05d}.png").write_bytes(encoded.tobytes())
    with Project.open(project_dir) as project:
        project.repo.add_images_from_folder(folder)

    reads: list[str] = []
    real_imread = cv2.imread
    monkeypatch.setattr(cv2, "imread", lambda path, *a: reads.append(path) or real_imread(path, *a))
    win = MainWindow(make_settings(tmp_path, project__last=str(project_dir)), project_path=project_dir)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    win.queue_combo.setCurrentIndex(1)  # all images
    model = win.image_model
    assert model.rowCount() == 10_000
    qtbot.wait(300)
    model.wait_for_thumbnails()
    visible = win.image_view.height() // model.data(model.index(0), 13).height() + 2  # 13 = SizeHintRole
    assert 0 < model.thumbnails_requested <= visible + 5
    assert len(reads) <= visible + 5

    # Scrolling to the end reads only the rows that become visible.
    win.image_view.scrollToBottom()
    qtbot.wait(300)
    model.wait_for_thumbnails()
    assert model.thumbnails_requested <= 2 * (visible + 5)
    win.close()


def test_stop_never_waits_for_an_inference_in_progress(window: MainWindow, qtbot, tmp_path: Path,
                                                       light_detector: Detector,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU inference can take seconds: Stop returns at once, the abandoned inference's result is dropped, and
    the next source's first inference waits for it (never two at once on one model), off the UI thread."""
    import threading

    real_predict = light_detector.predict
    running, overlaps, started = [0], [0], threading.Event()
    count_lock = threading.Lock()

    def slow_predict(image: np.ndarray):
        with count_lock:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
        started.set()
        time.sleep(2.0)
        try:
            return real_predict(image)
        finally:
            with count_lock:
                running[0] -= 1

    monkeypatch.setattr(light_detector, "predict", slow_predict)
    win = window
    video = str(make_video(tmp_path / "clip.avi", frames=200))
    win.start_source(video)
    qtbot.waitUntil(started.is_set, timeout=30_000)
    t0 = time.monotonic()
    win.live.stop()
    assert time.monotonic() - t0 < 0.5  # the 2 s inference goes on in its own thread
    assert win.live.result is None and not win.live.running

    started.clear()
    win.start_source(video)
    qtbot.waitUntil(lambda: win.live.result is not None, timeout=30_000)
    assert win.live.result.session == win.live._session  # the abandoned worker's result never showed
    assert overlaps[0] == 1
    win.live.stop()
