"""Boxes drawn on BGR images with OpenCV, in the colours of ``core.palette`` (the GUI uses the same)."""

from __future__ import annotations

import cv2
import numpy as np

from detector_app.core.detections import Detections
from detector_app.core.palette import class_color


def label_text(name: str, score: float) -> str:
    return f"{name} {score:.2f}"


def draw_detections(image_bgr: np.ndarray, detections: Detections, *, thickness: int | None = None) -> np.ndarray:
    """A copy of ``image_bgr`` with each box outlined in its class colour and tagged "label 0.87"."""
    out = np.ascontiguousarray(image_bgr).copy()
    height, width = out.shape[:2]
    line = thickness or max(2, round(min(height, width) / 300))
    scale = max(0.4, min(height, width) / 1000)
    for box, score, name in zip(detections.boxes, detections.scores, detections.names, strict=True):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        r, g, b = class_color(name)
        cv2.rectangle(out, (x1, y1), (x2, y2), (b, g, r), line)  # crisp edges: exact class colour
        _draw_tag(out, label_text(name, float(score)), (x1, y1), (b, g, r), scale)
    return out


def _draw_tag(image: np.ndarray, text: str, corner: tuple[int, int], color_bgr: tuple[int, int, int],
              scale: float) -> None:
    """Filled tag above the box (inside it when the box touches the top edge)."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = corner
    top = y - th - base - 2 if y - th - base - 2 >= 0 else y
    cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base + 2), color_bgr, cv2.FILLED)
    luminance = 0.114 * color_bgr[0] + 0.587 * color_bgr[1] + 0.299 * color_bgr[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1, cv2.LINE_AA)
