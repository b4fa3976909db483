"""The plugin API: exporters (label formats), frame sources and detectors from ``plugins/``, the user plugin
folder and installed packages (entry point group ``detector_app.plugins``). Qt-free; see docs/PLUGINS.md.

A plugin author needs only the names below; everything else in this package is the app's side. They are
imported on first use (PEP 562), so importing a submodule such as ``plugins_api.settings`` (the CLI's help
does) does not load the API, its numpy types and the manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detector_app.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from detector_app.plugins_api.api import (
        API_VERSION,
        ENTRY_POINT_GROUP,
        KINDS,
        DetectionModel,
        DetectorPlugin,
        ExporterPlugin,
        ExportScope,
        FormatPlugin,
        Plugin,
        PluginError,
        SourcePlugin,
    )
    from detector_app.plugins_api.manager import PluginManager, get_manager, reset_manager
    from detector_app.plugins_api.records import DISABLED, FAILED, LOADED, PluginRecord

# Exported name -> the submodule that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("API_VERSION", "ENTRY_POINT_GROUP", "KINDS", "DetectionModel", "DetectorPlugin",
                     "ExporterPlugin", "ExportScope", "FormatPlugin", "Plugin", "PluginError", "SourcePlugin"), "api"),
    **dict.fromkeys(("PluginManager", "get_manager", "reset_manager"), "manager"),
    **dict.fromkeys(("DISABLED", "FAILED", "LOADED", "PluginRecord"), "records"),
}

__all__ = [
    "API_VERSION",
    "DISABLED",
    "ENTRY_POINT_GROUP",
    "FAILED",
    "KINDS",
    "LOADED",
    "DetectionModel",
    "DetectorPlugin",
    "ExportScope",
    "ExporterPlugin",
    "FormatPlugin",
    "Plugin",
    "PluginError",
    "PluginManager",
    "PluginRecord",
    "SourcePlugin",
    "get_manager",
    "reset_manager",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
