"""A simulated annotator for the active-learning benchmark: it corrects a model's proposals to the ground truth and
counts what a person would have had to do.

Correcting one image (``correct_image``) works on the proposals of the version being reviewed, matched to the
ground truth the way the error analysis matches them: proposals from the highest score down, each to the still
unmatched ground-truth box of any class with the highest IoU, when that IoU is at least ``MATCH_IOU`` (0.5). Then:

- matched, same class, IoU >= ``ACCEPT_IOU``: *accepted* (close enough that a person would not redraw it);
- matched, same class, lower IoU: *adjusted* (the person moves its edges);
- matched, another class: *relabelled* (its box is snapped too; one action, as in the review view);
- unmatched proposal: *rejected* (a false positive);
- unmatched ground-truth box: *drawn* (a miss).

Whatever the action, the box written to the database is exactly the ground-truth box, so both arms of the
benchmark train on identical labels and only the choice of images differs; the status records the action (accepted
or corrected by a person, human-drawn, rejected). Proposals of older versions still waiting on the image are
superseded by the reviewed version's and deleted uncounted. The image is then marked reviewed.

``pick`` is the order under test: ``"uncertainty"`` takes the head of the project's own review queue
(``detector_app.training.uncertainty.review_queue``), ``"random"`` a seeded draw; both only ever from the pool.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from detector_app.core.labels import Origin, Status
from detector_app.training.data import target_boxes
from detector_app.training.holdout import is_holdout
from detector_app.training.uncertainty import review_queue

MATCH_IOU = 0.5
ACCEPT_IOU = 0.85
ORDERS = ("uncertainty", "random")
ACTIONS = ("accepted", "adjusted", "relabelled", "rejected", "drawn")


@dataclass(frozen=True)
class Truth:
    """An image's ground truth: (N, 4) xyxy pixel boxes and their class names."""

    boxes: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Cost:
    """What the annotator did on some images: proposals accepted / adjusted / relabelled / rejected, boxes drawn."""

    images: int = 0
    accepted: int = 0
    adjusted: int = 0
    relabelled: int = 0
    rejected: int = 0
    drawn: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def edits(self) -> int:
        """Actions beyond a plain accept: what costs the person time."""
        return self.adjusted + self.relabelled + self.rejected + self.drawn

    @property
    def proposals(self) -> int:
        return self.accepted + self.adjusted + self.relabelled + self.rejected


@dataclass(frozen=True)
class Action:
    kind: str  # one of ACTIONS
    proposal: int | None  # index into the proposals (None: drawn)
    truth: int | None  # index into the ground truth (None: rejected)
    iou: float = 0.0


def iou_xyxy(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def plan_corrections(boxes: Sequence[Sequence[float]], labels: Sequence[str], scores: Sequence[float],
                     truth: Truth) -> list[Action]:
    """The actions that turn proposals (xyxy ``boxes``, ``labels``, ``scores``) into ``truth`` (see the module
    docstring): one per proposal, in proposal order, then one ``drawn`` per missed ground-truth box."""
    gt = truth.boxes.tolist()
    free = set(range(len(gt)))
    by_proposal: dict[int, Action] = {}
    for p in sorted(range(len(boxes)), key=lambda i: (-scores[i], i)):
        best, best_iou = None, MATCH_IOU
        for t in sorted(free):
            overlap = iou_xyxy(boxes[p], gt[t])
            if overlap >= best_iou and (best is None or overlap > best_iou):
                best, best_iou = t, overlap
        if best is None:
            by_proposal[p] = Action("rejected", p, None)
            continue
        free.discard(best)
        kind = ("relabelled" if labels[p] != truth.labels[best]
                else "accepted" if best_iou >= ACCEPT_IOU else "adjusted")
        by_proposal[p] = Action(kind, p, best, best_iou)
    return [by_proposal[p] for p in range(len(boxes))] + [Action("drawn", None, t) for t in sorted(free)]


def cost_of(actions: Iterable[Action]) -> Cost:
    counts = dict.fromkeys(ACTIONS, 0)
    for action in actions:
        counts[action.kind] += 1
    return Cost(images=1, **counts)


def correct_image(repo: Any, image_id: int, truth: Truth, version_id: int | None) -> Cost:
    """Review ``image_id`` from the proposals of ``version_id`` as a person who knows ``truth`` would (see the
    module docstring) and return what it took."""
    waiting = [a for a in repo.annotations_for_image(image_id)
               if a.origin == Origin.MODEL and a.status == Status.PREDICTED]
    proposals = [a for a in waiting if a.model_version_id == version_id]
    for stale in waiting:
        if stale.model_version_id != version_id:
            repo.delete_annotation(stale.id)
    xyxy = [(x, y, x + w, y + h) for x, y, w, h in (a.bbox for a in proposals)]
    actions = plan_corrections(xyxy, [a.category_name for a in proposals],
                               [float(a.score or 0.0) for a in proposals], truth)
    for action in actions:
        if action.truth is None:
            repo.set_status(proposals[action.proposal].id, Status.REJECTED)
            continue
        x1, y1, x2, y2 = (float(v) for v in truth.boxes[action.truth])
        box, name = (x1, y1, x2 - x1, y2 - y1), truth.labels[action.truth]
        if action.proposal is None:
            repo.add_annotation(image_id, name, box, origin=Origin.HUMAN, status=Status.ACCEPTED)
            continue
        ann_id = proposals[action.proposal].id
        if action.kind == "relabelled":
            repo.set_category(ann_id, name)  # becomes corrected
        repo.update_bbox(ann_id, box)  # exactly the ground truth; corrected
        if action.kind == "accepted":
            repo.set_status(ann_id, Status.ACCEPTED)  # the person accepted it: the status says so
    repo.mark_reviewed(image_id)
    return cost_of(actions)


def pick(repo: Any, order: str, pool: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """``k`` unreviewed pool images in ``order``; refuses (AssertionError) an image outside the pool or in the
    holdout, which would leak evaluation images into training."""
    waiting = set(repo.image_ids("unreviewed")) & set(pool)
    if order == "uncertainty":
        chosen = [e.image_id for e in review_queue(repo) if e.image_id in waiting][:k]
    elif order == "random":
        chosen = rng.sample(sorted(waiting), min(k, len(waiting)))
    else:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    splits = {img.id: img.split for img in repo.get_images(chosen)}
    assert not any(is_holdout(splits[i]) for i in chosen), "a holdout image was picked for correction"
    return chosen


def labels_in_db(repo: Any, image_id: int) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The image's labels as training reads them (``counts_as_label``), sorted: (class, xyxy)."""
    boxes, names = target_boxes(repo.annotations_for_image(image_id))
    return sorted((n, tuple(float(v) for v in b)) for n, b in zip(names, boxes.tolist(), strict=True))
