"""Which plugins are disabled: ``plugins.json`` in the user config folder, shared by the CLI and the GUI."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from detector_app.paths import app_paths

log = logging.getLogger(__name__)

SETTINGS_NAME = "plugins.json"


def settings_path() -> Path:
    return app_paths().config / SETTINGS_NAME


class PluginSettings:
    """The set of disabled plugin names, read once and written on every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings_path()
        self._disabled = self._read()

    @property
    def disabled(self) -> frozenset[str]:
        return frozenset(self._disabled)

    def is_enabled(self, name: str) -> bool:
        return name not in self._disabled

    def set_enabled(self, name: str, enabled: bool) -> None:
        if enabled:
            self._disabled.discard(name)
        else:
            self._disabled.add(name)
        self._write()

    def _read(self) -> set[str]:
        # A damaged file must not stop the app: every plugin is then enabled and the file rewritten later.
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable plugin settings %s: %s", self.path, exc)
            return set()
        disabled = data.get("disabled", []) if isinstance(data, dict) else []
        return {str(n) for n in disabled if isinstance(n, str)}

    def _write(self) -> None:
        """Write through a temporary file so a crash never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"disabled": sorted(self._disabled)}, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".plugins-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
