"""``Detections``: model output, independent of how it is drawn, stored or exported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from detector_app.core.labels import BACKGROUND


@dataclass(frozen=True)
class Detections:
    """Boxes for one image in original pixel coordinates.

    boxes: (N, 4) float32, x1, y1, x2, y2.  scores: (N,) float32.  labels: (N,) int64 indices into
    ``class_names``, exactly as the model emits them. torchvision detectors reserve index 0 for the
    background, so ``class_names[0]`` is ``"__background__"`` and real classes start at 1.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not (len(boxes) == len(scores) == len(labels)):
            raise ValueError(f"boxes, scores and labels differ in length: {len(boxes)}, {len(scores)}, {len(labels)}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", tuple(self.class_names))

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), tuple(class_names))

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Detections(self.boxes[index], self.scores[index], self.labels[index], self.class_names)

    @property
    def names(self) -> list[str]:
        """Class name of each box (``class_<id>`` where the id is outside ``class_names``)."""
        return [self.label_name(int(i)) for i in self.labels]

    def label_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else f"class_{label}"

    @property
    def xywh(self) -> np.ndarray:
        """Boxes as COCO x, y, width, height."""
        out = self.boxes.copy()
        out[:, 2:] -= out[:, :2]
        return out

    @property
    def area(self) -> np.ndarray:
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def with_min_score(self, threshold: float) -> Detections:
        return self[self.scores >= threshold]

    def with_classes(self, names: Sequence[str] | None) -> Detections:
        """Keep boxes whose class name is in ``names`` (all when ``names`` is None or empty)."""
        if not names:
            return self
        wanted = set(names)
        return self[np.array([n in wanted for n in self.names], dtype=bool)]

    def without_background(self) -> Detections:
        """Drop boxes labelled as the background class (a sigmoid head can still score index 0)."""
        return self[np.array([n != BACKGROUND for n in self.names], dtype=bool)]

    def top(self, k: int) -> Detections:
        order = np.argsort(-self.scores, kind="stable")[:k]
        return self[order]

    def scaled(self, sx: float, sy: float) -> Detections:
        return Detections(self.boxes * np.array([sx, sy, sx, sy], np.float32), self.scores, self.labels, self.class_names)
