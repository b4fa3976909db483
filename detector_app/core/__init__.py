"""Plain data types shared by detection, storage, training, export and the UI."""

from detector_app.core.detections import Detections

__all__ = ["Detections"]
