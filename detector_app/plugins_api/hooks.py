"""Where plugins meet the rest of the app: small functions the export registry, ``open_source`` and model
loading call. Each one swallows nothing silently but never lets a broken plugin break a built-in feature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector_app.plugins_api.api import DetectionModel, PluginError
from detector_app.plugins_api.manager import get_manager

log = logging.getLogger(__name__)

PLUGIN_MODEL_PREFIX = "plugin:"


@dataclass(frozen=True)
class PluginExport:
    """``Exporter.run`` for a plugin: goes through the manager (staging folder, failure recorded)."""

    plugin_name: str

    def __call__(self, repo: Any, out: Path, options: Any) -> Path:
        return get_manager().export(self.plugin_name, repo, Path(out), options.scope, options.copy_images)


@dataclass(frozen=True)
class PluginImport:
    """``Importer.run`` for a plugin that can also read its format."""

    plugin_name: str

    def __call__(self, repo: Any, path: Path, images_dir: Path | None) -> Any:
        return get_manager().import_labels(self.plugin_name, repo, Path(path), images_dir)


def merge_plugin_formats(exporters: dict[str, Any], importers: dict[str, Any]) -> None:
    """Bring the registry's tables in line with the enabled exporter plugins.

    Adds each enabled plugin's exporter (and importer when it can read the format), drops entries of plugins
    that have been disabled since, and never replaces a built-in format of the same name. Nothing is imported
    here: a user plugin's code runs in the app only when its format is used.
    """
    from detector_app.export.registry import Exporter, Importer

    try:
        plugins = get_manager().available("exporter")
    except Exception:  # discovery itself failing (not one plugin) must still leave COCO working
        log.error("plugin discovery failed; only built-in formats are available", exc_info=True)
        return
    for table in (exporters, importers):
        for key in [k for k, v in table.items() if _is_plugin_entry(v) and v.run.plugin_name not in plugins]:
            del table[key]
    for name, record in plugins.items():
        description = record.description or f"{name} (plugin)"
        if _add(exporters, name, Exporter(name, description, PluginExport(name))) and record.can_import:
            _add(importers, name, Importer(name, description, PluginImport(name)))


def _is_plugin_entry(entry: Any) -> bool:
    return isinstance(getattr(entry, "run", None), PluginExport | PluginImport)


def _add(table: dict[str, Any], name: str, entry: Any) -> bool:
    key = name.lower()
    current = table.get(key)
    if current is not None and not _is_plugin_entry(current):
        log.warning("plugin format %r not added: a built-in format has that name", name)
        return False
    table[key] = entry
    return True


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
