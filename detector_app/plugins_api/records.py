"""What the app knows about each plugin it found: shown by ``detector-app plugins`` and the Plugins dialog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOADED = "loaded"
FAILED = "failed"
DISABLED = "disabled"
STATES = (LOADED, FAILED, DISABLED)

# Where a plugin came from.
ORIGIN_APP = "app"  # the plugins/ folder shipped with the app
ORIGIN_USER = "user"  # the user plugin folder (app_paths().user_plugins)
ORIGIN_PACKAGE = "package"  # an installed distribution's entry point


@dataclass(frozen=True)
class PluginRecord:
    """One plugin (or one module that failed before it could name its plugins).

    ``error`` holds why loading failed, or why the last run failed while the plugin stays usable.
    ``location`` is the file, folder or ``distribution==version (entry point)`` it came from.
    A user or installed plugin is described by its probe (see ``probe.py``) and imported into the app only when
    it is used, so a ``loaded`` record may not hold its ``plugin`` yet.
    """

    name: str
    kind: str  # exporter | source | detector | unknown (import failed)
    version: str
    origin: str
    location: str
    state: str
    error: str | None = None
    description: str = ""
    api_version: int | None = None
    plugin: Any = None  # the plugin instance once imported (user and installed plugins: only when needed)
    can_import: bool = False  # an exporter that can also read its format

    @property
    def usable(self) -> bool:
        return self.state == LOADED and self.plugin is not None

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly view (the plugin object left out)."""
        return {"name": self.name, "kind": self.kind, "version": self.version, "origin": self.origin,
                "location": self.location, "state": self.state, "error": self.error,
                "description": self.description, "api_version": self.api_version}
