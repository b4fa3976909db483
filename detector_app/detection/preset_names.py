"""The names of the detector presets, without torch: the CLI offers them in ``--help`` and argument checks.

:mod:`detector_app.detection.presets` builds the models; a test keeps its ``PRESETS`` in step with these names.
"""

from __future__ import annotations

PRESET_NAMES: tuple[str, ...] = ("retinanet_r50_fpn", "retinanet_r50_fpn_v2", "retinanet_light")
DEFAULT_PRESET = "retinanet_r50_fpn"
