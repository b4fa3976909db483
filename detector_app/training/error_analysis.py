"""Error analysis of a model version on the holdout: confusion matrix, precision-recall curves, AP by object size and
the false positives and misses, biggest first. Pure functions of ground truth and predictions.

Confusion matrix (rows: ground truth, columns: prediction; the classes, then ``background``): only predictions
scoring at least the decision threshold count. Per image, predictions are taken from the highest score down; each is
matched to the still unmatched ground-truth box of *any* class with the highest IoU, if that IoU is >= 0.5. A match
adds one to (true class, predicted class), so a relabelling shows off the diagonal; an unmatched prediction adds to
(background, predicted class), a false positive; an unmatched ground-truth box to (true class, background), a miss.

Precision-recall curves and AP by size come from pycocotools (all predictions, as COCO scores them): precision at
IoU 0.5 over its 101 recall points per class (0 past the highest recall reached), and AP@[.5:.95] for small (< 32² px), medium and large (> 96² px)
boxes; ``None`` where no ground truth of that size or class exists.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pycocotools.cocoeval import COCOeval

from detector_app.detection.presets import PRESETS
from detector_app.errors import TrainingError
from detector_app.storage import Project
from detector_app.training.data import Sample, build_samples
from detector_app.training.evaluate import Prediction, _coco_ground_truth, predict_samples
from detector_app.training.holdout import is_holdout
from detector_app.training.model_setup import pick_device
from detector_app.training.uncertainty import DECISION_THRESHOLD
from detector_app.training.versions import load_version

BACKGROUND_ROW = "background"
MATCH_IOU = 0.5
SIZES = ("small", "medium", "large")
PREDICT_CHUNK = 4  # holdout images per inference step of ``analyse_version``: its progress and cancel points
NO_HOLDOUT = ("the project has no holdout with reviewed images: choose one with "
              "`detector-app holdout --project <project folder>`")
Predict = Callable[[Sequence[Sample]], list[Prediction]]


@dataclass(frozen=True)
class BoxError:
    kind: str  # "false positive" (nothing there), "wrong class" (a box of another class), "miss"
    image_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    category: str  # the predicted class; for a miss, the class that was missed
    score: float | None  # None for a miss
    true_category: str | None = None  # for a wrong class: what the box really is

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass(frozen=True)
class ErrorReport:
    labels: tuple[str, ...]  # rows and columns of ``confusion``: the classes, then background
    confusion: tuple[tuple[int, ...], ...]
    pr_curves: dict[str, list[tuple[float, float]]]  # class -> (recall, precision) at IoU 0.5
    ap_by_size: dict[str, float | None]
    errors: tuple[BoxError, ...]  # biggest first

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "confusion": [list(r) for r in self.confusion],
                "pr_curves": {k: [list(p) for p in v] for k, v in self.pr_curves.items()},
                "ap_by_size": self.ap_by_size, "errors": [{**asdict(e), "area": e.area} for e in self.errors]}


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def confusion(samples: Sequence[Sample], predictions: Sequence[Prediction], classes: Sequence[str],
              threshold: float = DECISION_THRESHOLD) -> tuple[list[list[int]], list[BoxError]]:
    """The confusion matrix (see the module docstring) and every error behind its off-diagonal cells."""
    index = {name: i for i, name in enumerate(classes)}
    bg = len(classes)
    matrix = [[0] * (bg + 1) for _ in range(bg + 1)]
    errors: list[BoxError] = []
    for sample, (boxes, scores, names) in zip(samples, predictions, strict=True):
        truth = [(tuple(map(float, b)), n) for b, n in zip(sample.boxes.tolist(), sample.labels, strict=True)
                 if n in index]
        free = set(range(len(truth)))
        order = sorted(range(len(scores)), key=lambda k: -float(scores[k]))
        for k in order:
            name, score = names[k], float(scores[k])
            if name not in index or score < threshold:
                continue
            box = tuple(float(v) for v in boxes[k])
            best, best_iou = None, MATCH_IOU
            for j in free:
                overlap = _iou(box, truth[j][0])
                if overlap >= best_iou:
                    best, best_iou = j, overlap
            if best is None:
                matrix[bg][index[name]] += 1
                errors.append(BoxError("false positive", sample.image_id, box, name, score))  # type: ignore[arg-type]
                continue
            free.discard(best)
            true_name = truth[best][1]
            matrix[index[true_name]][index[name]] += 1
            if true_name != name:
                errors.append(BoxError("wrong class", sample.image_id, box, name, score, true_name))  # type: ignore[arg-type]
        for j in sorted(free):
            matrix[index[truth[j][1]]][bg] += 1
            errors.append(BoxError("miss", sample.image_id, truth[j][0], truth[j][1], None))  # type: ignore[arg-type]
    errors.sort(key=lambda e: (-e.area, -(e.score or 0.0), e.image_id))
    return matrix, errors


def coco_curves(samples: Sequence[Sample], predictions: Sequence[Prediction],
                classes: Sequence[str]) -> tuple[dict[str, list[tuple[float, float]]], dict[str, float | None]]:
    """Per-class precision-recall at IoU 0.5 and AP@[.5:.95] by object size, from pycocotools."""
    cat_ids = {name: i + 1 for i, name in enumerate(classes)}
    gt = _coco_ground_truth(samples, cat_ids)
    dets = [{"image_id": s.image_id, "category_id": cat_ids[n], "score": float(sc),
             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
            for s, (boxes, scores, names) in zip(samples, predictions, strict=True)
            for b, sc, n in zip(boxes, scores, names, strict=True) if n in cat_ids]
    if not dets or not gt.getAnnIds():
        return {name: [] for name in classes}, dict.fromkeys(SIZES)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision, recalls = ev.eval["precision"], ev.params.recThrs  # precision: [IoU, recall, class, area, maxDets]
    curves = {}
    for name, cat in cat_ids.items():
        k = ev.params.catIds.index(cat)
        curves[name] = [(round(float(r), 2), float(p)) for r, p in zip(recalls, precision[0, :, k, 0, -1], strict=True) if p > -1]
    sizes = {size: (float(ev.stats[3 + i]) if ev.stats[3 + i] > -1 else None) for i, size in enumerate(SIZES)}
    return curves, sizes


def analyse(samples: Sequence[Sample], predictions: Sequence[Prediction], classes: Sequence[str],
            threshold: float = DECISION_THRESHOLD) -> ErrorReport:
    matrix, errors = confusion(samples, predictions, classes, threshold)
    curves, sizes = coco_curves(samples, predictions, classes)
    return ErrorReport((*classes, BACKGROUND_ROW), tuple(tuple(r) for r in matrix), curves, sizes, tuple(errors))


def format_report(report: ErrorReport, top: int = 20) -> str:
    """The matrix, AP by size, the AP50 precision at a few recall points per class, and the ``top`` biggest errors."""
    width = max(len(n) for n in report.labels) + 2
    lines = ["confusion (rows: ground truth, columns: predicted)",
             " " * width + "".join(f"{n[:10]:>11}" for n in report.labels)]
    lines += [f"{name:<{width}}" + "".join(f"{v:>11}" for v in row) for name, row in zip(report.labels,
                                                                                        report.confusion, strict=True)]
    lines.append("AP by size: " + ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}"
                                            for k, v in report.ap_by_size.items()))
    lines.append("precision at recall 0.1 / 0.5 / 0.9 (IoU 0.5):")
    for name, curve in report.pr_curves.items():
        near = [min(curve, key=lambda p, r=r: abs(p[0] - r)) if curve else None for r in (0.1, 0.5, 0.9)]
        lines.append(f"  {name:<{width}}" + " / ".join(
            f"{p[1]:.2f}" if p and abs(p[0] - r) < 0.006 else "-" for p, r in zip(near, (0.1, 0.5, 0.9), strict=True)))
    lines.append(f"errors: {len(report.errors)} (biggest first)")
    for e in report.errors[:top]:
        score = "" if e.score is None else f" score {e.score:.2f}"
        really = f" (is {e.true_category})" if e.true_category else ""
        box = ", ".join(f"{v:.0f}" for v in e.box)
        lines.append(f"  {e.kind:<14} image {e.image_id:>6}  {e.category}{really}{score}  box [{box}]  area {e.area:.0f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class VersionErrors:
    """``analyse`` of one model version on the project's holdout."""

    version_id: int
    version_name: str
    images: int  # reviewed holdout images scored
    report: ErrorReport


def holdout_samples(project: Project) -> list[Sample]:
    """The holdout's reviewed images with their labels, by id; the boxes read in bulk, not image by image."""
    repo, images, after = project.repo, [], None
    while page := repo.list_images(state="reviewed", limit=1000, after_id=after):
        images.extend(i for i in page if is_holdout(i.split))
        after = page[-1].id
    return build_samples(images, repo.annotations_for_images([i.id for i in images]))


def version_predictor(project: Project, version_id: int, device: str = "auto") -> Predict:
    """The version's model on ``device`` at the input size it was trained at, as a function of samples."""
    record = project.repo.get_model_version(version_id)
    loaded = load_version(project, version_id)
    size = int(record.settings.get("size") or PRESETS[loaded.preset].default_size)
    where = pick_device(device)
    model = loaded.model.to(where)

    def predict(samples: Sequence[Sample]) -> list[Prediction]:
        return predict_samples(model, loaded.class_names, samples, size, where) or []

    return predict


def analyse_version(project: Project, version_id: int, device: str = "auto", threshold: float = DECISION_THRESHOLD,
                    predict: Predict | None = None) -> Generator[tuple[int, int], None, VersionErrors]:
    """The version's errors on the holdout, step by step: yields (images predicted, holdout images) before the
    model loads and after every ``PREDICT_CHUNK`` images (a worker cancels there), then returns the result.
    ``predict`` replaces the version's own model (``version_predictor``) when given."""
    record = project.repo.get_model_version(version_id)  # an unknown id: a StorageError saying so
    samples = holdout_samples(project)
    if not samples:
        raise TrainingError(NO_HOLDOUT)
    yield 0, len(samples)
    if predict is None:
        predict = version_predictor(project, version_id, device)
    predictions: list[Prediction] = []
    for start in range(0, len(samples), PREDICT_CHUNK):
        predictions.extend(predict(samples[start:start + PREDICT_CHUNK]))
        yield len(predictions), len(samples)
    report = analyse(samples, predictions, list(record.class_names), threshold)
    return VersionErrors(record.id, record.name, len(samples), report)
