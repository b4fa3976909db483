"""Detector settings, input formats and thread safety (small model and input size: these test logic)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from detector_app.core.detections import Detections
from detector_app.detection.detector import Detector, DetectorConfig, resolve_device
from detector_app.detection.weights import LoadedModel, load_model
from detector_app.errors import DetectorAppError

from .helpers_detection import coco_image, spread_model

SIZE = 160


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return spread_model("retinanet_light", seed=2)


@pytest.fixture(scope="module")
def image(shared_data: Path) -> np.ndarray:
    return coco_image(shared_data)


def test_output_is_detections_in_original_pixels(loaded: LoadedModel, image: np.ndarray) -> None:
    detector = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.4, max_detections=50))
    out = detector.predict(image)
    assert isinstance(out, Detections) and 0 < len(out) <= 50
    assert out.class_names == loaded.class_names and detector.class_names == loaded.class_names
    assert (out.scores > 0.4).all() and np.all(np.diff(out.scores) <= 0)
    h, w = image.shape[:2]
    assert (out.boxes >= 0).all() and (out.boxes[:, [0, 2]] <= w).all() and (out.boxes[:, [1, 3]] <= h).all()
    assert (out.boxes[:, 2:] >= out.boxes[:, :2]).all()


def test_class_filter_keeps_only_named_classes(loaded: LoadedModel, image: np.ndarray) -> None:
    detector = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.3, max_detections=300))
    everything = detector.predict(image)
    wanted = tuple(n for n, _ in _most_common(everything.names, 2))
    detector.update_config(classes=wanted)
    only = detector.predict(image)
    assert len(only) > 0 and set(only.names) <= set(wanted)
    # The best boxes equal filtering the unfiltered output (NMS is per class, so other classes never
    # interfere); beyond them the filtered run has room for boxes the 300-box cap had cut.
    expected = everything.with_classes(wanted)
    assert 0 < len(expected) <= len(only)
    np.testing.assert_allclose(only.scores[: len(expected)], expected.scores, atol=1e-4)
    with pytest.raises(DetectorAppError, match="unknown class name.*unicorn"):
        detector.update_config(classes=("person", "unicorn"))


def _most_common(names: list[str], k: int) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])[:k]


def test_update_config_changes_threshold_size_and_limit(loaded: LoadedModel, image: np.ndarray) -> None:
    detector = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.2, max_detections=100))
    many = detector.predict(image)
    config = detector.update_config(score_threshold=0.6, max_detections=5, size=128)
    assert (config.score_threshold, config.max_detections, config.size) == (0.6, 5, 128)
    few = detector.predict(image)
    assert len(few) <= 5 < len(many) and (few.scores > 0.6).all()


def test_input_formats(loaded: LoadedModel, image: np.ndarray) -> None:
    detector = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.3, fast=False))
    gray = image[:, :, 1]
    assert len(detector.predict(gray)) >= 0
    bgra = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    np.testing.assert_allclose(detector.predict(bgra).scores, detector.predict(image).scores, atol=1e-6)
    with pytest.raises(TypeError, match="uint8"):
        detector.predict(image.astype(np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        detector.predict(np.zeros((4, 4, 2), np.uint8))


def test_config_validation_and_devices() -> None:
    with pytest.raises(DetectorAppError, match="threshold"):
        DetectorConfig(score_threshold=1.5)
    with pytest.raises(DetectorAppError, match="at least 32"):
        DetectorConfig(size=8)
    assert DetectorConfig(size=512).max_size == 853  # torchvision's 800/1333 proportion
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DetectorAppError, match="unknown device"):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(DetectorAppError, match="CUDA is not available"):
            resolve_device("cuda")


def test_predict_is_safe_while_another_thread_changes_config_and_model(loaded: LoadedModel,
                                                                       image: np.ndarray) -> None:
    """A worker predicts non-stop while the main thread flips settings and swaps models."""
    other = load_model("retinanet_light", weights="none", seed=9, class_names=("a", "b"))
    detector = Detector(loaded, DetectorConfig(size=128, score_threshold=0.3, max_detections=20))
    results: list[Detections] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        try:
            while not stop.is_set():
                results.append(detector.predict(image))
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for i in range(6):
            detector.update_config(max_detections=3 if i % 2 else 20, size=96 if i % 2 else 128)
            detector.swap_model(other if i % 2 else loaded)
            while len(results) < i + 1 and thread.is_alive():
                stop.wait(0.01)
    finally:
        stop.set()
        thread.join(60)
    assert not errors and len(results) >= 6
    for out in results:  # each frame saw one consistent configuration: a model's own classes
        assert out.class_names in (loaded.class_names, other.class_names)
        assert len(out) <= 20
    assert detector.class_names == other.class_names and detector.config.max_detections == 3


def test_swap_model_keeps_settings_and_limits_class_filter(loaded: LoadedModel) -> None:
    detector = Detector(loaded, DetectorConfig(size=SIZE, classes=("person", "car"), score_threshold=0.7))
    shapes = load_model("retinanet_light", weights="none", class_names=("person", "square"))
    detector.swap_model(shapes)
    assert detector.class_names == ("__background__", "person", "square")
    assert detector.config.classes == ("person",) and detector.config.score_threshold == 0.7
    assert detector.name == shapes.name


def test_unused_coco_ids_are_never_reported(image: np.ndarray) -> None:
    """torchvision's COCO names hold "N/A" for unused ids; a head that scores them (random, or fine-tuned from
    COCO) must not turn them into boxes, which a capture would store as a class "N/A"."""
    loaded = load_model("retinanet_light", weights="none", seed=3)
    unused = [i for i, n in enumerate(loaded.class_names) if n == "N/A"]
    assert unused  # the COCO label map has them
    cls = loaded.model.head.classification_head.cls_logits
    per_anchor = cls.bias.shape[0] // len(loaded.class_names)
    with torch.no_grad():
        bias = cls.bias.view(per_anchor, len(loaded.class_names))
        bias.fill_(-3.0)
        bias[:, unused] = 3.0  # N/A would win everywhere
    out = Detector(loaded, DetectorConfig(size=SIZE, score_threshold=0.04, max_detections=100)).predict(image)
    assert len(out) > 0 and "N/A" not in out.names
