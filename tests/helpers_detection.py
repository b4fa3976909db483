"""Shared helpers for the detection, source and detect-CLI tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from detector_app.detection.detector import Detector, _run_network
from detector_app.detection.frame_input import as_bgr_uint8, check_resizable, frame_to_tensor
from detector_app.detection.weights import LoadedModel, load_model

COCO_IMAGES = ("000000017627.jpg", "000000037777.jpg", "000000087038.jpg")


def coco_image(shared_data: Path, name: str = COCO_IMAGES[0]) -> np.ndarray:
    image = cv2.imread(str(shared_data / "coco-tiny" / "images" / name))
    assert image is not None, name
    return image


@lru_cache(maxsize=4)
def spread_model(preset: str = "retinanet_r50_fpn", seed: int = 0, logit_std: float = 2.0,
                 bias: float = -3.0) -> LoadedModel:
    """Fixed random weights whose class scores spread over (0, 1) instead of all sitting near 0.01.

    A freshly initialised head gives every anchor nearly the same score (the 0.01 prior), so top-k, NMS
    and thresholds would compare ties. Scaling the last classification layer to a set logit spread makes
    the scores depend strongly on the image, like a trained model's.
    """
    loaded = load_model(preset, weights="none", seed=seed)
    model = loaded.model.eval()
    cls = model.head.classification_head.cls_logits
    probe = torch.Generator().manual_seed(seed)
    image = torch.rand(3, 128, 160, generator=probe)
    with torch.no_grad():
        images, _ = model.transform([image])
        features = list(model.backbone(images.tensors).values())
        logits = model.head(features)["cls_logits"]
        cls.weight.mul_(logit_std / float(logits.std()))
        cls.bias.fill_(bias)
    return loaded  # cached: callers must not modify it (Detector works on its own copy)


def write_video(path: Path, frames: int = 20, size: tuple[int, int] = (160, 120), fps: float = 10.0,
                fourcc: str = "MJPG") -> Path:
    """A small clip of a moving square whose colour encodes the frame index (red channel = 10 * i)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 40, np.uint8)
        x = 5 + 3 * i
        cv2.rectangle(image, (x, 30), (x + 40, 80), (0, 200, (10 * i) % 256), -1)
        writer.write(image)
    writer.release()
    return path


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes: (N, 4) x (M, 4) -> (N, M)."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def raw_outputs(detector: Detector, frame_bgr: np.ndarray) -> dict[str, torch.Tensor]:
    """Per-anchor outputs of ``detector`` before any thresholding: ``cls_logits`` (A, K), ``boxes`` (A, 4)
    decoded in network-input pixels, ``anchors`` (A, 4). For checking the fast and int8 paths against fp32."""
    engine = detector._engine
    with torch.inference_mode():
        check_resizable(as_bgr_uint8(frame_bgr), engine.config.size, engine.config.max_size)
        images, _ = engine.transform([frame_to_tensor(frame_bgr, engine.net.device)])
        head, anchors, _ = _run_network(engine, images)
        boxes = engine.post.box_coder.decode_single(head["bbox_regression"][0], anchors[0])
    return {"cls_logits": head["cls_logits"][0].cpu(), "boxes": boxes.cpu(), "anchors": anchors[0].cpu()}
