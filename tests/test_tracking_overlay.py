"""Live overlays: boxes follow their objects between detector results and catch up with its latency."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.core.detections import Detections
from detector_app.tracking import OverlayPredictor
from detector_app.tracking.flow import flow_boxes
from detector_app.tracking.geometry import iou_matrix

from .synthetic_tracks import (
    CLASS_NAMES,
    live_overlay_iou,
    make_track_sequence,
    noisy_detections,
    video_backgrounds,
)


def _texture(seed: int = 0, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(128, 60, (size[0] // 4, size[1] // 4))
    return cv2.resize(np.clip(noise, 0, 255).astype(np.uint8), size[::-1], interpolation=cv2.INTER_CUBIC)


def test_flow_moves_a_box_with_a_shifted_image_and_says_where_it_cannot() -> None:
    prev = _texture()
    curr = np.roll(prev, (2, 3), axis=(0, 1))  # 3 px right, 2 px down
    flat = np.full_like(prev, 128)
    moved, ok = flow_boxes(prev, curr, np.array([[100, 80, 140, 120], [200, 150, 240, 190]], np.float32))
    assert ok.all()
    np.testing.assert_allclose(moved, [[103, 82, 143, 122], [203, 152, 243, 192]], atol=0.3)
    still, lost = flow_boxes(flat, flat, np.array([[100, 80, 140, 120]], np.float32))
    assert not lost.any() and still.tolist() == [[100, 80, 140, 120]]  # nothing to follow: left unchanged
    assert flow_boxes(prev, curr, np.zeros((0, 4)))[0].shape == (0, 4)


def test_a_late_result_is_carried_to_the_newest_frame() -> None:
    """One textured square moving 3 px a frame; the result for frame 0 arrives at frame 12."""
    background, patch = np.full((240, 320, 3), 90, np.uint8), cv2.cvtColor(_texture(1, (40, 40)), cv2.COLOR_GRAY2BGR)
    frames, truth = [], []
    for k in range(13):
        frame = background.copy()
        x = 20 + 3 * k
        frame[100:140, x:x + 40] = patch
        frames.append(frame)
        truth.append([x, 100, x + 40, 140])
    predictors = {mode: OverlayPredictor(mode) for mode in ("flow", "hold")}
    for mode, overlay in predictors.items():
        for k, frame in enumerate(frames):
            overlay.add_frame(frame, k / 25)
        boxes = overlay.add_detections(Detections(np.array([truth[0]]), np.array([0.9]), np.array([1]), CLASS_NAMES), 0.0)
        assert [b.track_id for b in boxes] == [1] and boxes[0].label == 1
        assert overlay.lag_s == pytest.approx(12 / 25)
        predictors[mode] = iou_matrix(boxes[0].box[None], np.array([truth[-1]]))[0, 0]
    assert predictors["flow"] > 0.9 > 0.3 > predictors["hold"], predictors


def test_ids_survive_between_results_and_a_dropped_detection() -> None:
    overlay = OverlayPredictor("flow")
    frame = cv2.cvtColor(_texture(2), cv2.COLOR_GRAY2BGR)
    overlay.add_frame(frame, 0.0)
    one = Detections(np.array([[10, 10, 50, 50], [200, 100, 240, 140]]), np.array([0.9, 0.8]), np.array([1, 2]),
                     CLASS_NAMES)
    assert [b.track_id for b in overlay.add_detections(one, 0.0)] == [1, 2]
    overlay.add_frame(frame, 0.04)
    assert [b.track_id for b in overlay.add_detections(one[1], 0.04)] == [2, 1]  # 1 missed once: still drawn
    overlay.add_frame(frame, 0.08)
    assert [b.track_id for b in overlay.add_detections(one[1], 0.08)] == [2]  # missed twice: gone
    with pytest.raises(ValueError, match="mode must be one of"):
        OverlayPredictor("teleport")  # type: ignore[arg-type]


def test_overlay_follows_tracks_better_than_the_last_detection(shared_data: Path) -> None:
    """A detector at 2 fps on 25 fps footage (a result every 13th frame, 12 frames late), fed with noisy
    true boxes: mean IoU of the drawn boxes with the truth at every displayed frame."""
    seq = make_track_sequence(video_backgrounds(shared_data / "video" / "vtest.avi", 60), objects=5, seed=0)
    dets = noisy_detections(seq, seed=0)
    iou = {mode: live_overlay_iou(seq, dets.__getitem__, OverlayPredictor(mode)) for mode in ("flow", "hold")}
    print(f"overlay IoU with the truth: {iou}")
    assert iou["flow"] > 0.5 and iou["flow"] > iou["hold"] + 0.3, iou
