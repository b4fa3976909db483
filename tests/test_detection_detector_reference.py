"""Must-show 1: in fp32 the Detector gives torchvision's reference results, on real images."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision.transforms.functional import to_tensor

from detector_app.detection.detector import Detector, DetectorConfig, frame_to_tensor
from detector_app.detection.weights import LoadedModel

from .helpers_detection import COCO_IMAGES, coco_image, spread_model


def image_path(shared_data: Path, name: str) -> str:
    return str(shared_data / "coco-tiny" / "images" / name)

SIZE = 224
# Same operations in the same order on the same tensors: the results are expected to be bitwise
# equal; the stated tolerance only allows for a different BLAS code path between two model copies.
BOX_TOL_PX = 1e-3
SCORE_TOL = 1e-5


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    """The spread model with torchvision's unused COCO ids ("N/A") scored out, as the Detector always does, so
    that the reference keeps exactly the same candidates."""
    loaded = copy.deepcopy(spread_model("retinanet_r50_fpn", seed=3))
    unused = [i for i, n in enumerate(loaded.class_names) if n == "N/A"]
    cls = loaded.model.head.classification_head.cls_logits
    with torch.no_grad():
        cls.bias.view(-1, len(loaded.class_names))[:, unused] = -1e4
    return loaded


@pytest.fixture(scope="module")
def detector(loaded: LoadedModel) -> Detector:
    """fp32; torchvision's default thresholds, so that both sides keep exactly the same boxes."""
    return Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.05, max_detections=300, fast=False))


@pytest.fixture(scope="module")
def reference(loaded: LoadedModel) -> Callable[[str], dict[str, torch.Tensor]]:
    """torchvision's own call, model([to_tensor(rgb)]), with its transform set to this input size."""
    model = copy.deepcopy(loaded.model).eval()
    model.transform.min_size = (SIZE,)
    model.transform.max_size = DetectorConfig(size=SIZE).max_size

    @lru_cache
    def run(image_path: str) -> dict[str, torch.Tensor]:
        image_bgr = cv2.imread(image_path)
        with torch.no_grad():
            return model([to_tensor(image_bgr[:, :, ::-1].copy())])[0]

    return run


def test_frame_tensor_is_exactly_to_tensor_of_rgb(shared_data: Path) -> None:
    image = coco_image(shared_data)
    ours = frame_to_tensor(image, torch.device("cpu"))
    theirs = to_tensor(image[:, :, ::-1].copy())
    assert ours.dtype == theirs.dtype and ours.is_contiguous()
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name", COCO_IMAGES[:2])
def test_fp32_detections_equal_torchvision_reference(shared_data: Path, detector: Detector, reference, name: str) -> None:
    image = coco_image(shared_data, name)
    assert not detector.fast_path_active

    ours = detector.predict(image)
    ref = reference(image_path(shared_data, name))

    assert len(ref["scores"]) > 20, "the fixture model must produce real detections to compare"
    assert len(ours) == len(ref["scores"])
    np.testing.assert_allclose(ours.boxes, ref["boxes"].numpy(), atol=BOX_TOL_PX, rtol=0)
    np.testing.assert_allclose(ours.scores, ref["scores"].numpy(), atol=SCORE_TOL, rtol=0)
    np.testing.assert_array_equal(ours.labels, ref["labels"].numpy())
    # Boxes are in original pixels, not network-input pixels.
    assert ours.boxes[:, 2].max() > SIZE or ours.boxes[:, 3].max() > SIZE
    assert ours.boxes[:, 2].max() <= image.shape[1] and ours.boxes[:, 3].max() <= image.shape[0]


def test_threshold_and_max_detections_equal_filtering_the_reference(shared_data: Path, loaded: LoadedModel,
                                                                      reference) -> None:
    image = coco_image(shared_data, COCO_IMAGES[0])
    ref = reference(image_path(shared_data, COCO_IMAGES[0]))
    keep = ref["scores"] > 0.6
    detector = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.6, max_detections=10, fast=False))
    ours = detector.predict(image)
    expected = min(10, int(keep.sum()))
    assert len(ours) == expected > 0
    np.testing.assert_allclose(ours.scores, ref["scores"][keep][:10].numpy(), atol=SCORE_TOL, rtol=0)
    np.testing.assert_allclose(ours.boxes, ref["boxes"][keep][:10].numpy(), atol=BOX_TOL_PX, rtol=0)


def test_batch_equals_single_frames_of_the_same_size(shared_data: Path) -> None:
    image = coco_image(shared_data, COCO_IMAGES[0])
    flipped = np.ascontiguousarray(image[:, ::-1])
    detector = Detector(spread_model("retinanet_light", seed=2), DetectorConfig(size=160, score_threshold=0.3))
    batch = detector.predict_batch([image, flipped])
    for frame, got in zip((image, flipped), batch, strict=True):
        single = detector.predict(frame)
        np.testing.assert_allclose(got.boxes, single.boxes, atol=1e-3)
        np.testing.assert_allclose(got.scores, single.scores, atol=1e-5)
    assert detector.predict_batch([]) == []
