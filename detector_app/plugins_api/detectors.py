"""Detector plugins behind the interface of :class:`detector_app.detection.detector.Detector`.

The built-in ``Detector`` drives torchvision's RetinaNet internals, so a plugin model cannot go inside it.
:class:`PluginDetector` offers the same surface instead (``predict``, ``predict_batch``, ``update_config``,
``config``, ``name``, ``class_names``, ``device``) and applies the same settings to the plugin's output:
score threshold (strictly above), class filter and maximum count. :func:`create_detector` picks one or
the other from a ``--model`` value, so callers need a single line for both.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from detector_app.core.detections import Detections
from detector_app.detection.config import DetectorConfig
from detector_app.errors import DetectorAppError
from detector_app.plugins_api.api import DetectionModel, PluginError
from detector_app.plugins_api.hooks import is_plugin_model, parse_plugin_model
from detector_app.plugins_api.manager import PluginManager, get_manager

if TYPE_CHECKING:
    import torch


class PluginDetector:
    """A detector plugin's model with the settings and thread rules of the built-in ``Detector``."""

    def __init__(self, model: DetectionModel, plugin_name: str, config: DetectorConfig | None = None,
                 manager: PluginManager | None = None) -> None:
        self._manager = manager or get_manager()
        self._lock = threading.Lock()  # serialises writers; predict reads one (model, config) snapshot
        self._predicting = threading.Lock()  # batch runs call predict from worker threads
        self._plugin_name = plugin_name
        self._state = (model, _checked(config or DetectorConfig(), _names(model)))

    @property
    def config(self) -> DetectorConfig:
        return self._state[1]

    @property
    def name(self) -> str:
        return f"plugin:{self._plugin_name}"

    @property
    def class_names(self) -> tuple[str, ...]:
        return _names(self._state[0])

    @property
    def device(self) -> torch.device:
        """Where the model runs, as the plugin says (``device`` attribute), else the CPU; a ``torch.device``
        like the built-in detector's, since callers look at ``device.type``."""
        import torch

        return torch.device(str(getattr(self._state[0], "device", "cpu")))

    @property
    def fast_path_active(self) -> bool:
        return False

    @property
    def precision(self) -> str:
        return str(getattr(self._state[0], "precision", "plugin"))

    def update_config(self, **changes: Any) -> DetectorConfig:
        with self._lock:
            model, config = self._state
            config = _checked(replace(config, **changes), _names(model))
            self._state = (model, config)
            return config

    def swap_model(self, model: DetectionModel) -> None:
        """Use another model of the same plugin (a built-in model needs a built-in ``Detector``)."""
        if not isinstance(model, DetectionModel):
            raise PluginError("a plugin detector can only switch to another plugin model")
        with self._lock:
            old_model, config = self._state
            kept = tuple(c for c in config.classes or () if c in _names(model)) or None
            self._state = (model, replace(config, classes=kept))
        old_model.close()

    def predict(self, frame_bgr: np.ndarray) -> Detections:
        model, config = self._state
        with contextlib.nullcontext() if model.thread_safe else self._predicting:
            detections = self._manager.run_guarded(self._plugin_name, "detecting",
                                                   lambda: model.predict(frame_bgr))
        if not isinstance(detections, Detections):
            raise self._manager.record_failure(
                self._plugin_name, "detecting", TypeError(f"predict() returned {type(detections).__name__}"))
        return apply_config(detections, config)

    def predict_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self.predict(f) for f in frames]

    def close(self) -> None:
        self._state[0].close()


def apply_config(detections: Detections, config: DetectorConfig) -> Detections:
    """The built-in detector's output rules: score above the threshold, wanted classes, best N."""
    kept = detections[detections.scores > config.score_threshold]
    return kept.with_classes(config.classes).top(config.max_detections)


def _names(model: DetectionModel) -> tuple[str, ...]:
    return tuple(getattr(model, "class_names", ()) or ())


def _checked(config: DetectorConfig, names: tuple[str, ...]) -> DetectorConfig:
    unknown = [c for c in config.classes or () if c not in names]
    if unknown:
        raise DetectorAppError(f"unknown class name(s) {', '.join(unknown)}; this model knows: "
                               f"{', '.join(names[1:])}")
    return config


def create_detector(model_spec: Any, config: DetectorConfig | None = None, **load_options: Any) -> Any:
    """A ``PluginDetector`` for ``plugin:NAME[:OPTIONS]``, else the built-in ``Detector(load_model(spec))``.

    ``load_options`` (``class_names``, ``weights``, ...) go to ``load_model`` for built-in models.
    """
    if is_plugin_model(model_spec):
        name, options = parse_plugin_model(model_spec)
        manager = get_manager()
        return PluginDetector(manager.load_detector(name, options), name, config, manager)
    from detector_app.detection.detector import Detector
    from detector_app.detection.weights import load_model

    return Detector(load_model(model_spec, **load_options), config)
