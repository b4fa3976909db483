"""boxes_to_store: the one rule for which frames of a Detect all run are stored, and with which boxes."""

from __future__ import annotations

import numpy as np

from detector_app.core.detections import Detections
from detector_app.detection import batch
from detector_app.detection.storing import boxes_to_store

NAMES = ("__background__", "ball", "box")


def dets(scores: list[float], labels: list[int]) -> Detections:
    return Detections(np.tile([1.0, 1.0, 9.0, 9.0], (len(scores), 1)), np.array(scores, float),
                      np.array(labels, int), NAMES)


def test_frames_without_a_box_at_the_threshold_are_dropped_only_when_asked() -> None:
    frame = dets([0.9, 0.3, 0.95], [1, 2, 0])  # the background box never counts
    kept = boxes_to_store(frame, 0.5, only_with_detections=True)
    assert kept is not None and kept.names == ["ball"] and list(kept.scores) == [0.9]
    low = dets([0.3, 0.2], [1, 2])
    assert boxes_to_store(low, 0.5, only_with_detections=True) is None
    stored_empty = boxes_to_store(low, 0.5, only_with_detections=False)
    assert stored_empty is not None and len(stored_empty) == 0
    assert boxes_to_store(dets([0.97], [0]), 0.5, only_with_detections=True) is None


def test_the_batch_module_shares_the_rule_instead_of_a_copy() -> None:
    assert batch.boxes_to_store is boxes_to_store
