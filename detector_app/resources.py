"""The files in the top-level ``resources/`` folder: icons, stylesheets, label maps. No Qt here.

From a source checkout (and an editable install) they are read where they lie; an installed wheel carries
them as ``detector_app/bundled_resources/`` (see ``package-dir`` in pyproject.toml).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from detector_app.errors import DetectorAppError

THEMES = ("light", "dark")
BUNDLED_NAME = "bundled_resources"  # the folder's name inside an installed wheel


class ResourceError(DetectorAppError):
    """A resource the app ships is missing or unreadable (a broken installation)."""


@cache
def resources_root() -> Path:
    """The wheel's ``detector_app/bundled_resources``, else ``resources/`` beside the package (source tree)."""
    package = Path(__file__).resolve().parent
    bundled = package / BUNDLED_NAME
    return bundled if bundled.is_dir() else package.parent / "resources"


def _file(*parts: str) -> Path:
    path = resources_root().joinpath(*parts)
    if not path.is_file():
        raise ResourceError(f"resource {'/'.join(parts)} not found under {resources_root()}")
    return path


def icon_path(name: str) -> Path:
    """``icons/<name>.svg``, e.g. ``icon_path("draw-box")``."""
    return _file("icons", f"{name}.svg")


def icon_names() -> list[str]:
    return sorted(p.stem for p in (resources_root() / "icons").glob("*.svg"))


def _check_theme(theme: str) -> None:
    if theme not in THEMES:
        raise ResourceError(f"unknown theme {theme!r}; choose one of {', '.join(THEMES)}")


def stylesheet(theme: str) -> str:
    """The Qt stylesheet (QSS) of ``theme``."""
    _check_theme(theme)
    return _file("styles", f"{theme}.qss").read_text(encoding="utf-8")


def palette_colors(theme: str) -> dict[str, dict[str, str]]:
    """``{"roles": {role: "#rrggbb"}, "disabled": {role: "#rrggbb"}}``; empty for the style's own palette."""
    _check_theme(theme)
    data = json.loads(_file("styles", "palettes.json").read_text(encoding="utf-8"))
    return data.get(theme, {})


def label_map(name: str = "coco") -> list[str]:
    """Class names, one per id from 0 (``labels/<name>.txt``, one a line)."""
    return _file("labels", f"{name}.txt").read_text(encoding="utf-8").splitlines()


def label_colors(name: str = "coco") -> dict[str, str]:
    """The default ``#rrggbb`` colour of each class of a label map (``labels/<name>_colors.json``)."""
    return json.loads(_file("labels", f"{name}_colors.json").read_text(encoding="utf-8"))
