"""Opening a source by path or spec (sources/factory.py): unreadable, unknown and missing paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector_app.errors import SourceError
from detector_app.sources import open_source


@pytest.mark.parametrize("content", [b"", b"plain text, not a video\n" * 10])
def test_unreadable_video_or_unknown_type_is_a_source_error(tmp_path: Path, content: bytes) -> None:
    for name in ("broken.mp4", "data.xyz"):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SourceError, match="cannot read"):
            open_source(path)


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(tmp_path / "missing.mp4")
