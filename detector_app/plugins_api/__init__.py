"""The plugin API: exporters (label formats), frame sources and detectors from ``plugins/``, the user plugin
folder and installed packages (entry point group ``detector_app.plugins``). Qt-free; see docs/PLUGINS.md.

A plugin author needs only the names below; everything else in this package is the app's side.
"""

from detector_app.plugins_api.api import (
    API_VERSION,
    ENTRY_POINT_GROUP,
    KINDS,
    DetectionModel,
    DetectorPlugin,
    ExporterPlugin,
    ExportScope,
    Plugin,
    PluginError,
    SourcePlugin,
)
from detector_app.plugins_api.manager import PluginManager, get_manager, reset_manager
from detector_app.plugins_api.records import DISABLED, FAILED, LOADED, PluginRecord

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
    "Plugin",
    "PluginError",
    "PluginManager",
    "PluginRecord",
    "SourcePlugin",
    "get_manager",
    "reset_manager",
]
