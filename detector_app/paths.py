"""Where the app keeps its files, through platformdirs.

``DETECTOR_APP_HOME`` overrides every location (one folder with data/, config/, cache/, logs/ inside);
tests and portable installs use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from detector_app import APP_NAME

HOME_ENV = "DETECTOR_APP_HOME"


@dataclass(frozen=True)
class AppPaths:
    data: Path
    config: Path
    cache: Path
    logs: Path

    @property
    def default_project(self) -> Path:
        return self.data / "default-project"

    @property
    def models(self) -> Path:
        """User-supplied weight files (checked before torchvision's cache)."""
        return self.data / "models"

    @property
    def user_plugins(self) -> Path:
        return self.data / "plugins"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.ini"


def app_paths() -> AppPaths:
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home)
        return AppPaths(root / "data", root / "config", root / "cache", root / "logs")
    return AppPaths(
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )
