"""Which frames of a run over a whole video or folder are kept, and with which boxes: one rule for every caller.

Torch-free on purpose: the window decides with it without loading the network's modules.
"""

from __future__ import annotations

from detector_app.core.detections import Detections


def boxes_to_store(detections: Detections, threshold: float, only_with_detections: bool) -> Detections | None:
    """The boxes of one frame worth storing (the background class dropped, scores at or above ``threshold``),
    or None when the frame is not stored at all: it has no such box and only frames with detections are wanted."""
    kept = detections.without_background().with_min_score(threshold)
    if only_with_detections and len(kept) == 0:
        return None
    return kept
