"""Where plugins meet the rest of the app: small functions that opening a source and loading a model call.
Each one swallows nothing silently but never lets a broken plugin break a built-in feature. (Label formats
are found by ``detector_app.transfer.formats``.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from detector_app.plugins_api.api import DetectionModel, PluginError
from detector_app.plugins_api.manager import get_manager

log = logging.getLogger(__name__)

PLUGIN_MODEL_PREFIX = "plugin:"


def open_plugin_source(spec: Any) -> Any | None:
    """A frame source from a source plugin for ``spec`` (None when no plugin takes it).

    ``open_source`` calls this once its built-in kinds do not match; a plugin's ``SourceError`` (for
    example an unreachable URL) reaches the caller unchanged.
    """
    if not isinstance(spec, str | Path):
        return None
    try:
        manager = get_manager()
    except Exception:
        log.error("plugin discovery failed; no plugin sources", exc_info=True)
        return None
    return manager.open_source(str(spec))


def is_plugin_model(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith(PLUGIN_MODEL_PREFIX)


def parse_plugin_model(spec: str) -> tuple[str, str]:
    """``"plugin:NAME"`` or ``"plugin:NAME:OPTIONS"`` -> (NAME, OPTIONS)."""
    if not is_plugin_model(spec):
        raise PluginError(f"{spec!r} is not a plugin model; write plugin:NAME or plugin:NAME:OPTIONS")
    name, _, options = spec[len(PLUGIN_MODEL_PREFIX):].partition(":")
    if not name:
        raise PluginError("plugin model without a name; write plugin:NAME (see `detector-app plugins`)")
    return name, options


def load_plugin_model(spec: str) -> DetectionModel:
    """Load the model of the detector plugin named in ``spec`` (``plugin:NAME[:OPTIONS]``)."""
    name, options = parse_plugin_model(spec)
    return get_manager().load_detector(name, options)
