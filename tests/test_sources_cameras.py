"""Finding the cameras present (sources/webcam.list_cameras) without opening any on Linux."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detector_app.sources.webcam import list_cameras


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the /dev/videoN and sysfs layout is Linux's")
def test_capture_nodes_are_listed_and_metadata_nodes_are_not(tmp_path: Path) -> None:
    dev, sysfs = tmp_path / "dev", tmp_path / "sys"
    dev.mkdir()
    for name, index in (("video0", "0"), ("video1", "1"), ("video2", "0"), ("video10", None), ("videoX", "0")):
        (dev / name).touch()
        if index is not None:
            (sysfs / name).mkdir(parents=True)
            (sysfs / name / "index").write_text(f"{index}\n")
    (dev / "null").touch()
    # video1 is video0's metadata node; video10 has no sysfs entry (offered: opening it says more).
    assert list_cameras(dev, sysfs) == [0, 2, 10]
    assert list_cameras(tmp_path / "empty", sysfs) == []
