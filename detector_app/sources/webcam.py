"""Webcams through OpenCV. Opening is bounded in time: a missing camera fails fast with a clear message."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import cv2

from detector_app.errors import SourceError
from detector_app.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 1.5  # per index, where cameras can only be found by opening them (not Linux)
PROBE_INDICES = 4


class WebcamSource(FrameSource):
    kind = "webcam"
    is_live = True

    def __init__(self, index: int = 0, *, timeout_s: float = OPEN_TIMEOUT_S) -> None:
        super().__init__()
        self.index = index
        self.origin = f"webcam:{index}"
        _check_device_node(index)
        self._cap = _open_with_timeout(index, timeout_s)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self._fps = fps if 0 < fps < 1000 else None
        self._next = 0
        self._t0 = time.monotonic()

    @property
    def frame_count(self) -> int | None:
        return None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def description(self) -> str:
        return f"webcam {self.index}"

    def read(self) -> Frame | None:
        if not self._cap.isOpened():
            return None
        ok, image = self._cap.read()
        if not ok or image is None:
            log.warning("webcam %d stopped delivering frames (unplugged or in use by another program)", self.index)
            return None
        frame = Frame(image, self._next, time.monotonic() - self._t0, self.origin, "webcam")
        self._next += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def list_cameras(dev_dir: Path = Path("/dev"), sys_dir: Path = Path("/sys/class/video4linux")) -> list[int]:
    """The camera indices present. On Linux the /dev/videoN nodes that capture (a camera also has metadata
    nodes, whose sysfs ``index`` is not 0), found without opening anything; elsewhere a short open of the
    first few indices. Slow on some systems: call it off the UI thread."""
    if sys.platform.startswith("linux"):
        found = []
        for node in dev_dir.glob("video*"):
            number = node.name[len("video"):]
            if number.isdigit() and _is_capture_node(sys_dir / node.name):
                found.append(int(number))
        return sorted(found)
    present = []
    for index in range(PROBE_INDICES):
        try:
            _open_with_timeout(index, PROBE_TIMEOUT_S).release()
        except SourceError:
            continue
        present.append(index)
    return present


def _is_capture_node(sys_node: Path) -> bool:
    try:
        return sys_node.joinpath("index").read_text().strip() in ("", "0")
    except OSError:
        return True  # no sysfs entry to tell: offer it (opening it says more)


def _check_device_node(index: int) -> None:
    """On Linux a camera is /dev/videoN; checking first avoids OpenCV trying every backend in turn."""
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        raise SourceError(f"no webcam {index}: /dev/video{index} does not exist (is a camera connected?)")


def _open_with_timeout(index: int, timeout_s: float) -> cv2.VideoCapture:
    """Open and read one frame in a helper thread; some drivers block for a long time on a bad device."""
    result: dict[str, object] = {}
    abandoned = threading.Event()

    def attempt() -> None:
        cap = cv2.VideoCapture(index)
        ok = cap.isOpened() and cap.read()[0]
        if abandoned.is_set() or not ok:
            cap.release()
        result["cap"], result["ok"] = cap, ok

    worker = threading.Thread(target=attempt, name=f"open-webcam-{index}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        abandoned.set()
        raise SourceError(f"webcam {index} did not respond within {timeout_s:.0f} s")
    if not result.get("ok"):
        raise SourceError(f"cannot open webcam {index}: no camera there, or it is in use by another program")
    cap = result["cap"]
    assert isinstance(cap, cv2.VideoCapture)
    return cap

