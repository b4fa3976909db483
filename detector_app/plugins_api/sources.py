"""Opening any source: the built-in kinds first, then the source plugins (stream URLs, new file types)."""

from __future__ import annotations

from pathlib import Path

from detector_app.errors import SourceError
from detector_app.plugins_api.hooks import open_plugin_source
from detector_app.sources import FrameSource, open_source


def open_any_source(spec: str | int | Path) -> FrameSource:
    """What the CLI and the GUI open: a built-in source for ``spec``, else the first enabled source plugin that
    takes it; when none does, the built-in source's ``SourceError`` says why."""
    try:
        return open_source(spec)
    except SourceError:
        if isinstance(spec, int) or (source := open_plugin_source(spec)) is None:
            raise
        return source
