"""``DetectorConfig``, the inference settings, without torch: the UI builds one before any model is loaded.

:mod:`detector_app.detection.detector` re-exports both names, so ``from detector_app.detection.detector import
DetectorConfig`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector_app.errors import DetectorAppError

# torchvision's default 800/1333 keeps this ratio between the shorter and the longer side limit.
MAX_SIZE_RATIO = 1333 / 800


@dataclass(frozen=True)
class DetectorConfig:
    """Inference settings. ``size`` is the shorter image side fed to the network (longer side capped
    at ``size * 1333 / 800``, like torchvision's defaults). Scores strictly above ``score_threshold``
    are kept; ``classes`` (names) limits the output to those classes; ``fast`` enables the
    reduced-precision path where the hardware supports it; ``int8`` quantizes the network on a CPU."""

    size: int = 512
    score_threshold: float = 0.5
    classes: tuple[str, ...] | None = None
    max_detections: int = 100
    device: str = "auto"
    fast: bool = True
    int8: bool = False  # CPU only: OpenVINO int8, calibrated on the first frames (see detection.int8)

    def __post_init__(self) -> None:
        if self.size < 32:
            raise DetectorAppError(f"input size must be at least 32 pixels, got {self.size}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise DetectorAppError(f"score threshold must be between 0 and 1, got {self.score_threshold}")
        if self.max_detections < 1:
            raise DetectorAppError(f"max detections must be at least 1, got {self.max_detections}")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes) or None)

    @property
    def max_size(self) -> int:
        return int(round(self.size * MAX_SIZE_RATIO))
