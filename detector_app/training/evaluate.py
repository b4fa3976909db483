"""COCO box metrics (pycocotools) of a model on a set of reviewed images.

Classes are matched by name, so a parent model that knows fewer (or other) classes than the run
is scored on the same ground truth: a class it cannot predict has AP 0.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.models.detection import RetinaNet

from detector_app.errors import TrainingError
from detector_app.sources.video_frames import VideoFrames
from detector_app.training.data import Sample, load_sample
from detector_app.training.events import EvalResult
from detector_app.training.model_setup import set_input_size

# Low, as in COCO practice: AP integrates over all score thresholds.
EVAL_SCORE_THRESHOLD = 0.05

Prediction = tuple[np.ndarray, np.ndarray, list[str]]  # boxes xyxy, scores, class names


@torch.no_grad()
def predict_samples(model: RetinaNet, class_names: Sequence[str], samples: Sequence[Sample], size: int,
                    device: torch.device, batch_size: int = 4,
                    should_stop: Callable[[], bool] = lambda: False) -> list[Prediction] | None:
    """Detections for each sample in original pixels (None when stopped)."""
    was_training = model.training
    model.eval()
    saved = (model.transform.min_size, model.transform.max_size, model.score_thresh)
    set_input_size(model, size)
    model.score_thresh = min(model.score_thresh, EVAL_SCORE_THRESHOLD)
    out: list[Prediction] = []
    frames = VideoFrames()  # a video task's frames, decoded from their videos
    try:
        for start in range(0, len(samples), batch_size):
            if should_stop():
                return None
            chunk = samples[start:start + batch_size]
            images = [load_sample(s, frames).to(device).float().div_(255) for s in chunk]
            for det in model(images):
                labels = det["labels"].cpu().numpy()
                names = [class_names[i] if 0 <= i < len(class_names) else f"class_{i}" for i in labels]
                out.append((det["boxes"].float().cpu().numpy(), det["scores"].float().cpu().numpy(), names))
    finally:
        model.transform.min_size, model.transform.max_size, model.score_thresh = saved
        model.train(was_training)
        frames.close()
    return out


def coco_metrics(samples: Sequence[Sample], predictions: Sequence[Prediction], classes: Sequence[str]) -> EvalResult:
    """mAP@[.5:.95], AP50 and per-class AP of ``predictions`` against the samples' boxes.

    Only ``classes`` count: ground truth and detections of other classes are left out.
    """
    if not samples:
        raise TrainingError("nothing to evaluate: the validation set is empty")
    cat_ids = {name: i + 1 for i, name in enumerate(classes)}
    gt = _coco_ground_truth(samples, cat_ids)
    dets = [
        {"image_id": s.image_id, "category_id": cat_ids[name], "score": float(score),
         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
        for s, (boxes, scores, names) in zip(samples, predictions, strict=True)
        for b, score, name in zip(boxes, scores, names, strict=True) if name in cat_ids
    ]
    has_gt = {name: any(name in s.labels for s in samples) for name in classes}
    if not dets or not gt.getAnnIds():
        zero = {name: (0.0 if has_gt[name] else None) for name in classes}
        return EvalResult(0.0, 0.0, zero, dict(zero), len(samples))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_eval = COCOeval(gt, gt.loadRes(dets), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    precision = coco_eval.eval["precision"]  # [IoU thresholds, recall, class, area, max dets]
    per_ap, per_ap50 = {}, {}
    for name, cat in cat_ids.items():
        k = coco_eval.params.catIds.index(cat)
        per_ap[name] = _mean_valid(precision[:, :, k, 0, -1]) if has_gt[name] else None
        per_ap50[name] = _mean_valid(precision[0, :, k, 0, -1]) if has_gt[name] else None
    stats = coco_eval.stats
    return EvalResult(max(float(stats[0]), 0.0), max(float(stats[1]), 0.0), per_ap, per_ap50, len(samples))


def evaluate_model(model: RetinaNet, class_names: Sequence[str], samples: Sequence[Sample], classes: Sequence[str],
                   size: int, device: torch.device,
                   should_stop: Callable[[], bool] = lambda: False) -> EvalResult | None:
    """Predict and score in one go (None when stopped)."""
    predictions = predict_samples(model, class_names, samples, size, device, should_stop=should_stop)
    if predictions is None:
        return None
    return coco_metrics(samples, predictions, classes)


def _coco_ground_truth(samples: Sequence[Sample], cat_ids: dict[str, int]) -> COCO:
    images = [{"id": s.image_id, "width": s.width, "height": s.height} for s in samples]
    anns: list[dict[str, Any]] = []
    for s in samples:
        for (x1, y1, x2, y2), name in zip(s.boxes.tolist(), s.labels, strict=True):
            if name in cat_ids:
                w, h = x2 - x1, y2 - y1
                anns.append({"id": len(anns) + 1, "image_id": s.image_id, "category_id": cat_ids[name],
                             "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": i, "name": n} for n, i in cat_ids.items()]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else 0.0
