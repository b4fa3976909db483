"""Must-show 2: the fast path (bf16 + channels-last + folded BatchNorm) agrees with fp32.

Compared before any thresholding, anchor by anchor, so that near-ties in top-k/NMS cannot hide or
fake a difference: the model has fixed random weights with a classification layer scaled so that its
scores spread over (0, 1) (see ``spread_model``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.detection.detector import Detector, DetectorConfig, cpu_has_fast_bf16
from detector_app.detection.weights import LoadedModel

from .helpers_detection import COCO_IMAGES, box_iou, coco_image, raw_outputs, spread_model

SIZE = 224
TOP_ANCHORS = 500
MIN_IOU = 0.9
MAX_SCORE_DIFF = 0.05  # measured: about 0.03 worst case over 500 anchors x 91 classes
MEAN_SCORE_DIFF = 0.01

needs_fast_path = pytest.mark.skipif(
    not (cpu_has_fast_bf16() or torch.cuda.is_available()),
    reason="no reduced-precision fast path on this machine (CPU without bf16, no CUDA)",
)


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return spread_model("retinanet_r50_fpn", seed=3)


@pytest.fixture(scope="module")
def detectors(loaded: LoadedModel) -> tuple[Detector, Detector]:
    exact = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.3, fast=False))
    fast = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.3, fast=True))
    return exact, fast


@needs_fast_path
@pytest.mark.parametrize("name", COCO_IMAGES[:2])
def test_fast_path_matches_fp32_before_thresholding(shared_data: Path, detectors: tuple[Detector, Detector],
                                                    name: str) -> None:
    exact, fast = detectors
    assert fast.fast_path_active and fast.precision in ("bf16", "fp16")
    image = coco_image(shared_data, name)
    ref, got = raw_outputs(exact, image), raw_outputs(fast, image)
    assert torch.equal(ref["anchors"], got["anchors"])

    ref_scores, got_scores = ref["cls_logits"].sigmoid(), got["cls_logits"].sigmoid()
    assert float(ref_scores.max()) > 0.9 and float(ref_scores.std()) > 0.05, "scores must be spread out"
    top = ref_scores.max(dim=1).values.topk(TOP_ANCHORS).indices  # the anchors that become detections

    ious = box_iou(ref["boxes"][top].numpy(), got["boxes"][top].numpy()).diagonal()
    diff = (ref_scores[top] - got_scores[top]).abs()
    assert ious.min() >= MIN_IOU, f"worst box IoU {ious.min():.3f}"
    assert float(diff.max()) < MAX_SCORE_DIFF, f"worst score difference {float(diff.max()):.4f}"
    assert float(diff.mean()) < MEAN_SCORE_DIFF


@needs_fast_path
def test_fast_path_top_detections_match_fp32(shared_data: Path, detectors: tuple[Detector, Detector]) -> None:
    """After NMS: the 10 best fp32 boxes are found by the fast path (same class, IoU >= 0.9, close score)."""
    exact, fast = detectors
    image = coco_image(shared_data, COCO_IMAGES[2])
    ref, got = exact.predict(image).top(10), fast.predict(image)
    assert len(ref) == 10
    iou = np.where(ref.labels[:, None] == got.labels[None], box_iou(ref.boxes, got.boxes), 0.0)
    best = iou.argmax(axis=1)
    matched = iou.max(axis=1) >= MIN_IOU
    assert matched.mean() >= 0.8, f"only {matched.sum()} of 10 matched"
    assert np.abs(ref.scores - got.scores[best])[matched].max() < MAX_SCORE_DIFF


def test_fast_path_can_be_switched_off() -> None:
    loaded = spread_model("retinanet_light", seed=2)
    detector = Detector(loaded, DetectorConfig(size=SIZE, fast=True))
    assert detector.fast_path_active == (cpu_has_fast_bf16() or torch.cuda.is_available())
    detector.update_config(fast=False)
    assert not detector.fast_path_active and detector.precision == "fp32"
    # The caller's model is never converted: training and other detectors keep using it in fp32.
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())

