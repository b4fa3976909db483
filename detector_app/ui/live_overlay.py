"""Wiring of the tracking overlay (tracking/live.py) into the live view's threads.

The player hands each captured frame to the detector through a ``LatestSlot``; ``OverlayFeed`` stands in
that slot's place on the player side, so every captured frame reaches the overlay on the player thread
(where its optical flow runs, never on the UI thread) before it goes on to the detector. Results reach it on
the detector thread through a direct connection (``feed_results``), before the UI hears of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt

from detector_app.core.palette import class_color
from detector_app.detection.live import LatestSlot
from detector_app.sources import Frame
from detector_app.tracking.live import LiveBox, LiveOverlay
from detector_app.ui.box_item import BoxSpec
from detector_app.ui.workers import DetectionWorker, FrameResult


class OverlayFeed:
    """What the player puts frames into: the overlay first, then the detector's slot."""

    def __init__(self, overlay: LiveOverlay, slot: LatestSlot) -> None:
        self.overlay, self.slot = overlay, slot

    def put(self, item: tuple[Frame, float]) -> bool:
        frame = item[0]
        self.overlay.add_frame(frame.image, frame.index, frame.timestamp)
        return self.slot.put(item)


def feed_results(worker: DetectionWorker, overlay: LiveOverlay) -> None:
    """Each result of ``worker`` goes into ``overlay`` on the detector thread (the catch-up over the frames
    captured during the inference costs a few ms: not the UI's). Connected before the UI's own slot."""

    def add(result: FrameResult) -> None:
        overlay.add_result(result.frame.index, result.frame.timestamp, result.detections)

    worker.result.connect(add, Qt.ConnectionType.DirectConnection)


def overlay_specs(boxes: Iterable[LiveBox], threshold: float, classes: set[str] | None) -> list[BoxSpec]:
    """Canvas boxes for the tracked overlay: "#12 person 0.87", in the class's colour from the one palette.
    The threshold and class filter apply here too, so a change shows at once on the boxes already followed."""
    specs = []
    for b in boxes:
        if b.score < threshold or (classes and b.name not in classes):
            continue
        x1, y1, x2, y2 = b.box
        specs.append(BoxSpec(None, (x1, y1, x2 - x1, y2 - y1), b.name, b.score, "live", class_color(b.name),
                             track_id=b.track_id))
    return specs
