"""The names and descriptions of the detector presets, without torch: the CLI offers them in ``--help`` and
argument checks, the GUI's Model menu lists them before any model is loaded.

:mod:`detector_app.detection.presets` builds the models; a test keeps its ``PRESETS`` in step with these names.
"""

from __future__ import annotations

PRESET_DESCRIPTIONS: dict[str, str] = {
    "retinanet_r50_fpn": "RetinaNet ResNet-50 FPN, COCO 36.4 AP",
    "retinanet_r50_fpn_v2": "RetinaNet ResNet-50 FPN v2, COCO 41.5 AP",
    "retinanet_light": "RetinaNet ResNet-18 FPN, for fast training on a CPU",
    "retinanet_light_gn": "RetinaNet ResNet-18 FPN-128, GroupNorm heads: new models on a CPU (default)",
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESET_DESCRIPTIONS)
DEFAULT_PRESET = "retinanet_r50_fpn"
