"""The live overlay between threads: frames from the player, results from the detector, boxes for the view."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from detector_app.core.detections import Detections
from detector_app.tracking.geometry import iou_matrix
from detector_app.tracking.live import LiveOverlay
from detector_app.tracking.overlay import OverlayPredictor

from .synthetic_tracks import CLASS_NAMES


def _moving_square(frames: int = 20, step: int = 3) -> tuple[list[np.ndarray], list[list[float]]]:
    """A textured 40 px square moving ``step`` px right per frame over a flat background, and its boxes."""
    patch = cv2.resize(np.random.default_rng(1).integers(0, 255, (10, 10, 3), dtype=np.uint8), (40, 40),
                       interpolation=cv2.INTER_CUBIC)
    images, truth = [], []
    for k in range(frames):
        image = np.full((240, 320, 3), 90, np.uint8)
        x = 20 + step * k
        image[100:140, x:x + 40] = patch
        images.append(image)
        truth.append([x, 100, x + 40, 140])
    return images, truth


def _result(box: list[float], score: float = 0.9) -> Detections:
    return Detections(np.array([box], np.float32), np.array([score]), np.array([2]), CLASS_NAMES)


def test_a_result_is_carried_to_the_frames_shown_since_with_its_track_and_name() -> None:
    images, truth = _moving_square()
    overlay = LiveOverlay(min_score=0.5)
    for k in range(13):
        overlay.add_frame(images[k], k, k / 25)
    assert overlay.boxes_for(12, 12 / 25) == []  # seen, nothing to draw yet
    assert overlay.add_result(0, 0.0, _result(truth[0]))  # the result for frame 0 arrives at frame 12
    (box,) = overlay.boxes_for(12, 12 / 25)
    assert (box.track_id, box.name, round(box.score, 3)) == (1, "square", 0.9)
    assert iou_matrix(np.array([box.box]), np.array([truth[12]]))[0, 0] > 0.9
    assert overlay.detection_time == 0.0
    assert overlay.boxes_for(3, 3 / 25) is None  # not one of the newest frames: the view never asks for it
    overlay.add_frame(images[13], 13, 13 / 25)
    (moved,) = overlay.boxes_for(13, 13 / 25)
    assert moved.track_id == 1 and moved.box[0] > box.box[0] + 2  # follows the object on the next frame
    costs = overlay.cost_ms()
    assert set(costs) == {"frame_median", "frame_p95", "frame_max", "result_median"} and costs["frame_max"] > 0


def test_a_seek_starts_afresh_and_drops_results_of_frames_before_it() -> None:
    images, truth = _moving_square()
    overlay = LiveOverlay()
    for k in range(5):
        overlay.add_frame(images[k], k, k / 25)
    overlay.add_frame(images[15], 15, 15 / 25)  # a seek: frame 15 does not follow frame 4
    assert not overlay.add_result(2, 2 / 25, _result(truth[2]))  # computed before the seek: dropped
    assert overlay.boxes_for(15, 15 / 25) == [] and overlay.detection_time is None
    assert overlay.add_result(15, 15 / 25, _result(truth[15]))
    assert [b.track_id for b in overlay.boxes_for(15, 15 / 25)] == [1]


def test_off_costs_nothing_and_back_on_starts_afresh() -> None:
    images, truth = _moving_square()
    overlay = LiveOverlay()
    overlay.add_frame(images[0], 0, 0.0)
    overlay.add_result(0, 0.0, _result(truth[0]))
    overlay.set_enabled(False)
    overlay.add_frame(images[1], 1, 1 / 25)
    assert overlay.boxes_for(1, 1 / 25) is None and not overlay.add_result(1, 1 / 25, _result(truth[1]))
    overlay.set_enabled(True)
    overlay.add_frame(images[2], 2, 2 / 25)
    assert overlay.boxes_for(2, 2 / 25) == [] and overlay.detection_time is None


def test_player_detector_and_view_threads_at_once() -> None:
    """Three threads as in the live view; every box the view reads belongs to a frame it asked for."""
    images, truth = _moving_square(frames=80, step=1)
    overlay, errors, read = LiveOverlay(), [], []
    done = threading.Event()

    def player() -> None:
        for k, image in enumerate(images):
            overlay.add_frame(image, k, k / 25)
        done.set()

    def detector() -> None:
        k = 0
        while not done.is_set():
            overlay.add_result(k, k / 25, _result(truth[k]))
            k = min(k + 7, len(images) - 1)

    def view() -> None:
        while not done.is_set():
            for k in range(len(images)):
                boxes = overlay.boxes_for(k, k / 25)
                if boxes:
                    read.append((k, boxes[0].box))

    def guarded(work):  # noqa: ANN001, ANN202 - a thread's failure becomes a test failure
        def run() -> None:
            try:
                work()
            except Exception as exc:
                errors.append(exc)
                done.set()
        return run

    threads = [threading.Thread(target=guarded(t)) for t in (player, detector, view)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and read
    for k, box in read:
        assert iou_matrix(np.array([box]), np.array([truth[k]]))[0, 0] > 0.5


def test_frames_added_while_a_result_is_carried_over_get_its_boxes_too() -> None:
    """The flow of a catch-up runs outside the lock: the player adds frames meanwhile."""
    images, truth = _moving_square(frames=20)
    predictor = OverlayPredictor("flow")
    for k in range(13):
        predictor.add_frame(images[k], k / 25)
    plan = predictor.plan_result(_result(truth[0]), 0.0)
    carried = predictor.catch_up(plan)
    for k in range(13, 16):  # the player went on while the flow ran
        predictor.add_frame(images[k], k / 25)
    assert predictor.boxes() == []  # not until the result is applied
    predictor.apply_result(plan, carried)
    (box,) = predictor.boxes()
    assert box.track_id == 1 and iou_matrix(box.box[None], np.array([truth[15]]))[0, 0] > 0.85
