"""The uncertainty queue: unreviewed images ordered by how much correcting them should teach the model.

Read from the stored predictions (model boxes with a score), no model is run. An image's score is the sum of:

- ``threshold``: for each box still ``predicted``, its closeness to the decision threshold ``t`` (the detector's
  score threshold, 0.5 by default), ``1 - |score - t| / max(t, 1 - t)``: 1 for a box exactly at the threshold
  (the model could not decide), 0 for a box at score 0 or 1;
- ``disagreement``: when the two latest model versions that predicted the image both left boxes on it, the boxes
  they disagree about: pairs matched greedily by IoU >= ``MATCH_IOU`` (highest scores first) whose classes differ,
  plus the boxes of either version left unmatched;
- ``unseen``: ``UNSEEN_SCORE`` for an image no model has left a box on (never seen, or seen and nothing found: the
  stored boxes cannot tell these apart), so a fresh image ranks like one box at the threshold.

Class entropy is not part of it: a stored prediction keeps only its top class and score, not the distribution.
Ties go to the lower image id. No torch here: ``detector-app queue`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from detector_app.core.labels import BBox, Origin, Status
from detector_app.detection.config import DetectorConfig

DECISION_THRESHOLD = DetectorConfig().score_threshold
MATCH_IOU = 0.5
UNSEEN_SCORE = 1.0


@dataclass(frozen=True)
class ModelBox:
    """A stored model box: its class, COCO ``(x, y, w, h)``, score, review status and the version that made it."""

    category: str
    bbox: BBox
    score: float
    status: str = Status.PREDICTED
    version_id: int | None = None


@dataclass(frozen=True)
class QueueEntry:
    image_id: int
    score: float
    threshold: float
    disagreement: float
    unseen: float
    boxes: int  # model boxes considered

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def closeness(score: float, threshold: float = DECISION_THRESHOLD) -> float:
    """1 at the threshold, falling linearly to 0 at the farther end of [0, 1]."""
    return max(0.0, 1.0 - abs(score - threshold) / max(threshold, 1.0 - threshold))


def iou(a: BBox, b: BBox) -> float:
    """IoU of two COCO boxes (x, y, w, h)."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def disagreement(newer: Sequence[ModelBox], older: Sequence[ModelBox], min_iou: float = MATCH_IOU) -> int:
    """Boxes two versions disagree about: matched pairs (greedy by IoU, higher scores first) with different
    classes, plus every box left unmatched on either side."""
    free = list(range(len(older)))
    differing = matched = 0
    for box in sorted(newer, key=lambda b: -b.score):
        best, best_iou = None, min_iou
        for j in free:
            overlap = iou(box.bbox, older[j].bbox)
            if overlap >= best_iou:
                best, best_iou = j, overlap
        if best is not None:
            free.remove(best)
            matched += 1
            differing += box.category != older[best].category
    return differing + (len(newer) - matched) + (len(older) - matched)


def score_image(image_id: int, boxes: Sequence[ModelBox], threshold: float = DECISION_THRESHOLD) -> QueueEntry:
    """The image's score and its parts (see the module docstring)."""
    if not boxes:
        return QueueEntry(image_id, UNSEEN_SCORE, 0.0, 0.0, UNSEEN_SCORE, 0)
    near = sum(closeness(b.score, threshold) for b in boxes if b.status == Status.PREDICTED)
    by_version: dict[int, list[ModelBox]] = {}
    for box in boxes:
        by_version.setdefault(-1 if box.version_id is None else box.version_id, []).append(box)
    latest = sorted(by_version, reverse=True)[:2]
    disagree = float(disagreement(by_version[latest[0]], by_version[latest[1]])) if len(latest) == 2 else 0.0
    return QueueEntry(image_id, near + disagree, near, disagree, 0.0, len(boxes))


def rank(images: Mapping[int, Sequence[ModelBox]], threshold: float = DECISION_THRESHOLD,
         limit: int | None = None) -> list[QueueEntry]:
    """Images (id -> its model boxes) best first: highest score, then lowest id."""
    entries = sorted((score_image(i, boxes, threshold) for i, boxes in images.items()),
                     key=lambda e: (-e.score, e.image_id))
    return entries[:limit] if limit is not None else entries


def model_boxes(annotations: Iterable[Any]) -> list[ModelBox]:
    """The model boxes with a score among ``annotations`` (``AnnotationRecord``-like), rejected ones too: a
    rejected box still tells what its version said."""
    return [ModelBox(a.category_name, tuple(a.bbox), float(a.score), a.status, a.model_version_id)
            for a in annotations if a.origin == Origin.MODEL and a.score is not None]


def review_queue(repo: Any, limit: int | None = None, threshold: float = DECISION_THRESHOLD) -> list[QueueEntry]:
    """The project's unreviewed images in queue order. The model boxes are read in bulk (a query per few hundred
    images, not one per image: about twice as fast on 2,000 images, see benchmarks/bench_queue_order.py)."""
    ids = repo.image_ids("unreviewed")
    boxes = repo.annotations_for_images(ids, origin=Origin.MODEL, scored=True)
    return rank({i: model_boxes(boxes.get(i, ())) for i in ids}, threshold, limit)


def format_queue(entries: Sequence[QueueEntry], paths: Mapping[int, str]) -> str:
    """A table for the CLI: rank, image, score and its parts, path."""
    lines = [f"{'rank':>4}  {'image':>7}  {'score':>6}  {'thresh':>6}  {'disagr':>6}  {'unseen':>6}  {'boxes':>5}  path"]
    for n, e in enumerate(entries, 1):
        lines.append(f"{n:>4}  {e.image_id:>7}  {e.score:>6.3f}  {e.threshold:>6.3f}  {e.disagreement:>6.1f}  "
                     f"{e.unseen:>6.1f}  {e.boxes:>5}  {paths.get(e.image_id, '')}")
    return "\n".join(lines)
