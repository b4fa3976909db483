"""Tracking with detections from a model the test trains on shapes (slow: run with ``-m slow``).

The light preset learns the shapes of tests/synthetic_shapes.py from scratch on frames of vtest.avi (a
shorter run than tests/test_training_run_learning.py: 200 images, 6 epochs); then it detects the moving shapes of a
generated sequence and the tracker and the live overlay are scored against the exact ground truth.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.storage import Project
from detector_app.tracking import OverlayPredictor, Tracker, TrackerConfig
from detector_app.training import TrainSettings, load_version, train

from .synthetic_shapes import make_shapes_dataset, store_in_project
from .synthetic_tracks import (
    CLASS_NAMES,
    live_overlay_iou,
    make_track_sequence,
    mot_scores,
    video_backgrounds,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

# 96 px training images with shapes of 29-46 px: the size the shapes have in the 320x240 sequences, which
# the detector then sees at their own size (size=240).
SIZE = 96
TRAIN = dict(parent="scratch", preset="retinanet_light", freeze="all", size=SIZE, batch_size=4, optimizer="adamw",
             val_share=0.15, threads=1, epochs=6)


@pytest.fixture(scope="module")
def detections(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[Detections]]:
    root = tmp_path_factory.mktemp("trained")
    photos = []
    for i, frame in enumerate(video_backgrounds(shared_data / "video" / "vtest.avi", 8, start=500)):
        photos.append(root / f"photo_{i}.png")
        cv2.imwrite(str(photos[-1]), frame)
    with Project.open(root / "project") as project:
        data = make_shapes_dataset(200, seed=1, out_dir=project.path / "images", size=SIZE, objects=(2, 5),
                                   object_size=(0.3, 0.48), background_photos=photos)
        store_in_project(project.repo, data)
        result = train(project, TrainSettings(**TRAIN))
        print(f"trained: val AP50 {result.after.ap50:.3f}, mAP {result.after.map:.3f}")
        detector = Detector(load_version(project, result.version_id), DetectorConfig(size=240, score_threshold=0.3))
    seq = make_track_sequence(video_backgrounds(shared_data / "video" / "vtest.avi", 150, start=20), objects=5, seed=7)
    found = []
    for frame in seq.frames:
        d = detector.predict(frame)
        names = [CLASS_NAMES.index(n) if n in CLASS_NAMES else 0 for n in d.names]
        found.append(Detections(d.boxes, d.scores, np.array(names), CLASS_NAMES))
    return seq, found


def test_tracks_from_a_trained_detector(detections: tuple[object, list[Detections]]) -> None:
    seq, found = detections
    scores = {}
    for backend in ("bytetrack", "supervision"):
        tracker = Tracker(TrackerConfig(rate=seq.fps, backend=backend))
        scores[backend] = mot_scores(seq, [tracker.update(d) for d in found])
        print(f"{backend}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores[backend].items()))
    ours, theirs = scores["bytetrack"], scores["supervision"]
    # Measured on a loaded 2-core machine, the model at val AP50 0.36: MOTA -0.12, IDF1 0.27, HOTA 0.21 for
    # both (270 false positives, 551 misses of 745 boxes): the figures are the detector's, so only the
    # comparison with the reference tracker is asserted, not a floor.
    assert ours["mota"] >= theirs["mota"] - 0.01 and ours["idf1"] >= theirs["idf1"] - 0.01


def test_overlay_from_a_trained_detector(detections: tuple[object, list[Detections]]) -> None:
    seq, found = detections
    iou = {mode: live_overlay_iou(seq, found.__getitem__, OverlayPredictor(mode)) for mode in ("flow", "hold")}
    print(f"overlay IoU with the truth, trained detector at ~2 fps: {iou}")  # measured: flow 0.38, hold 0.06 (val AP50 0.33)
    assert iou["flow"] > iou["hold"] + 0.2, iou
