"""What a person did to a model's proposal: the one rule, shared by the repository, the report and the benchmarks.

A box is compared with the proposal stored beside it (``annotations.proposal_*``, schema 0004):

- ``drawn``: a person made it (a miss of the model whose proposals were on the image);
- ``rejected``: the proposal was wrong (a false positive);
- ``relabelled``: its class was changed (it may also have been moved: ``iou`` says how much);
- ``adjusted``: moved or resized, same class; ``iou`` is the overlap with the proposal;
- ``accepted``: kept as proposed;
- ``pending``: nobody looked yet.

A model box corrected before provenance was recorded has no proposal: it counts as ``adjusted`` with an
unknown IoU (None), the most it can be said to be.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from detector_app.core.labels import Origin, Status

BBox = tuple[float, float, float, float]  # COCO x, y, w, h

# Below this many pixels of change on every side a box counts as unmoved: a click without a drag
# still round-trips through floats.
MOVE_TOLERANCE_PX = 0.5


class Action(StrEnum):
    ACCEPTED = Status.ACCEPTED.value  # the same words as the review statuses they follow from
    ADJUSTED = "adjusted"
    RELABELLED = "relabelled"
    REJECTED = Status.REJECTED.value
    DRAWN = "drawn"
    PENDING = "pending"


ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)


@dataclass(frozen=True)
class Correction:
    action: Action
    iou: float | None = None  # overlap of the box with its proposal; None when there is none to compare


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two COCO ``(x, y, w, h)`` boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def moved(box: Sequence[float], proposal: Sequence[float]) -> bool:
    x, y, w, h = box
    px, py, pw, ph = proposal
    edges = (x - px, y - py, x + w - px - pw, y + h - py - ph)
    return any(abs(d) > MOVE_TOLERANCE_PX for d in edges)


def correction_action(origin: str, status: str, bbox: BBox, category_id: int,
                      proposal_bbox: BBox | None, proposal_category_id: int | None) -> Correction:
    """What a person did to one box (see the module docstring for the kinds)."""
    if origin == Origin.HUMAN:
        return Correction(Action.DRAWN)
    if status == Status.PREDICTED:
        return Correction(Action.PENDING)
    if status == Status.REJECTED:
        return Correction(Action.REJECTED)
    if proposal_bbox is None:
        return Correction(Action.ADJUSTED if status == Status.CORRECTED else Action.ACCEPTED)
    iou = box_iou(bbox, proposal_bbox)
    if proposal_category_id is not None and category_id != proposal_category_id:
        return Correction(Action.RELABELLED, iou)
    if moved(bbox, proposal_bbox):
        return Correction(Action.ADJUSTED, iou)
    return Correction(Action.ACCEPTED, 1.0)


def proposing_version(model_version_ids: Iterable[int | None]) -> int | None:
    """The version whose proposals are on an image, given the version of each of its model boxes: the one that
    proposed most of them, the newest on a tie. ``None`` for an image without model boxes, and for boxes of a
    model outside the project's versions (a pretrained one). The review clock and the correction report both
    attribute an image's review with this."""
    counts = Counter(model_version_ids)
    if not counts:
        return None
    return max(counts, key=lambda v: (counts[v], -1 if v is None else v))
