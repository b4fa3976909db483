"""Network streams as a frame source: ``rtsp://``, ``http(s)://`` (MJPEG and other streams FFmpeg reads),
``rtmp://``, ``udp://`` and ``srt://`` URLs, through OpenCV's FFmpeg backend.

``detector-app detect rtsp://camera.local/stream1`` uses it when no built-in source takes the spec.

A stream is live: no frame count, no seeking. When frames stop coming (the camera reboots, Wi-Fi drops) the
source reconnects a few times before it gives up with a ``SourceError`` that says what happened. Passwords in
URLs (``rtsp://user:secret@host``) never appear in messages, logs or frame origins.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from detector_app.errors import SourceError
from detector_app.plugins_api import API_VERSION, SourcePlugin
from detector_app.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "srt")


class StreamPlugin(SourcePlugin):
    name = "stream"
    version = "1.0"
    api_version = API_VERSION
    description = "Network cameras and streams (RTSP, HTTP/MJPEG, RTMP) through OpenCV, with reconnect"

    # Per instance, so an app or a test can tune them on the loaded plugin.
    reconnect_attempts = 3
    reconnect_delay_s = 1.0
    timeout_s = 5.0

    def can_open(self, spec: str) -> bool:
        parts = urlsplit(str(spec))
        return parts.scheme.lower() in SCHEMES and bool(parts.netloc)

    def open(self, spec: str) -> StreamSource:
        return StreamSource(spec, self.reconnect_attempts, self.reconnect_delay_s, self.timeout_s)


def redact(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}{port}"))


class StreamSource(FrameSource):
    kind = "webcam"  # a live source: frames are captured, like a webcam's, not re-readable from a file
    is_live = True

    def __init__(self, url: str, reconnect_attempts: int = 3, reconnect_delay_s: float = 1.0,
                 timeout_s: float = 5.0) -> None:
        super().__init__()
        self.url = url
        self.shown_url = redact(url)
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay_s = reconnect_delay_s
        self.timeout_s = timeout_s
        self.reconnects = 0  # successful reconnections so far
        self._stop = threading.Event()  # set by close(): ends reads and reconnect waits at once
        self._reading = threading.Lock()  # held during a read so close() never releases a capture in use
        self._index = 0
        self._started = time.monotonic()
        self._capture: cv2.VideoCapture | None = self._connect_first()

    @property
    def description(self) -> str:
        return f"stream {self.shown_url}"

    @property
    def frame_count(self) -> int | None:
        return None

    @property
    def fps(self) -> float | None:
        capture = self._capture
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture is not None else 0.0
        return fps if 0 < fps <= 240 else None  # MJPEG over HTTP often reports nonsense such as 1000

    def read(self) -> Frame | None:
        with self._reading:
            if self._stop.is_set() or self._capture is None:
                return None
            image = self._grab()
            if image is None:
                image = self._reconnect()  # raises SourceError when the stream stays away
            if image is None:  # closed while reconnecting
                return None
            frame = Frame(image, self._index, time.monotonic() - self._started, self.shown_url, self.kind)
            self._index += 1
            return frame

    def close(self) -> None:
        self._stop.set()
        if self._reading.acquire(timeout=self.timeout_s + 1):  # a read in progress ends within its timeout
            try:
                self._release()
            finally:
                self._reading.release()

    # --- connecting -------------------------------------------------------------------------------

    def _open_capture(self) -> cv2.VideoCapture | None:
        timeout_ms = int(self.timeout_s * 1000)
        capture = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG,
                                   [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _connect_first(self) -> cv2.VideoCapture:
        for attempt in range(1 + self.reconnect_attempts):
            if attempt and self._stop.wait(self.reconnect_delay_s):
                break
            capture = self._open_capture()
            if capture is not None:
                return capture
        raise SourceError(f"cannot connect to {self.shown_url} ({1 + self.reconnect_attempts} attempts, "
                          f"{self.timeout_s:g} s timeout each): check the address and that the camera or "
                          f"server is running and reachable from this computer")

    def _reconnect(self) -> np.ndarray | None:
        """Reopen the stream and return its next frame; ``SourceError`` once every attempt has failed."""
        log.warning("%s stopped sending frames; reconnecting", self.description)
        self._release()
        since = time.monotonic()
        for attempt in range(1, self.reconnect_attempts + 1):
            if self._stop.wait(self.reconnect_delay_s):
                return None
            self._capture = self._open_capture()
            image = self._grab() if self._capture is not None else None
            if image is not None:
                self.reconnects += 1
                log.info("%s reconnected (attempt %d)", self.description, attempt)
                return image
            self._release()
        raise SourceError(f"lost the stream {self.shown_url}: no frames after {self.reconnect_attempts} reconnect "
                          f"attempts in {time.monotonic() - since:.0f} s; the camera or server stopped or is "
                          f"unreachable")

    def _grab(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok and image is not None and image.size else None

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


PLUGINS = [StreamPlugin]
