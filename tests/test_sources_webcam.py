"""Webcam sources (sources/webcam.py): a missing device fails fast, a hanging one times out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from detector_app.errors import SourceError
from detector_app.sources import open_source
from detector_app.sources.webcam import WebcamSource


@pytest.mark.parametrize("spec", [7, "webcam:7", "7"])
def test_missing_webcam_fails_fast_with_a_clear_message(spec: object) -> None:
    if Path("/dev/video7").exists():
        pytest.skip("this machine has a /dev/video7")
    start = time.monotonic()
    with pytest.raises(SourceError, match="webcam 7"):
        open_source(spec)  # type: ignore[arg-type]
    assert time.monotonic() - start < 2.0


def test_webcam_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    class Hanging:
        def __init__(self, *args: object) -> None:
            release.wait(10)

        def isOpened(self) -> bool:
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr("detector_app.sources.webcam._check_device_node", lambda index: None)
    monkeypatch.setattr("detector_app.sources.webcam.cv2.VideoCapture", Hanging)
    start = time.monotonic()
    with pytest.raises(SourceError, match="did not respond within 1 s"):
        WebcamSource(0, timeout_s=1.0)
    assert time.monotonic() - start < 3.0
    release.set()
