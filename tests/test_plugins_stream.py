"""The shipped stream source against a real MJPEG HTTP server on 127.0.0.1 (multipart/x-mixed-replace JPEGs).

Every loop is bounded by a frame count and a deadline; nothing leaves localhost.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from detector_app.cli.main import main
from detector_app.errors import SourceError
from detector_app.paths import app_paths
from detector_app.plugins_api import get_manager
from detector_app.plugins_api.sources import open_any_source as open_source

pytestmark = pytest.mark.usefixtures("fresh_plugins")

BOUNDARY = b"frame"


class MjpegServer:
    """Serves numbered gray frames; the first connection ends after ``first_connection_frames`` frames
    (a camera dropping the link), later ones run until ``stop()`` (the server going away)."""

    def __init__(self, first_connection_frames: int) -> None:
        self.stopped = threading.Event()
        self.connections = 0
        self.first_connection_frames = first_connection_frames
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                server.connections += 1
                limit = server.first_connection_frames if server.connections == 1 else 10_000
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
                self.end_headers()
                for number in range(limit):
                    if server.stopped.is_set() or not self._send(number):
                        return
                    time.sleep(0.01)

            def _send(self, number: int) -> bool:
                ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 40 + number % 200, np.uint8))
                part = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (
                    BOUNDARY, len(jpeg), jpeg.tobytes())
                try:
                    self.wfile.write(part)
                    return True
                except OSError:  # the client went away
                    return False

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def stream_plugin() -> object:
    plugin = get_manager().sources()["stream"]
    plugin.reconnect_attempts, plugin.reconnect_delay_s, plugin.timeout_s = 2, 0.2, 2.0
    return plugin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_yields_frames_reconnects_and_reports_the_server_going_away(stream_plugin: object) -> None:
    server = MjpegServer(first_connection_frames=15)
    try:
        source = open_source(server.url)  # no built-in source takes a URL: the factory asks the plugins
        assert type(source).__name__ == "StreamSource" and source.is_live and source.frame_count is None
        frames = [source.read() for _ in range(40)]  # the first connection drops after 15 frames
        assert [f.index for f in frames] == list(range(40))
        assert all(f.image.shape == (48, 64, 3) and f.origin == server.url for f in frames)
        assert abs(float(frames[1].image.mean()) - 41) < 4  # the served pixels, not a blank frame
        assert source.reconnects >= 1 and server.connections >= 2
    finally:
        server.stop()

    deadline = time.monotonic() + 30
    with pytest.raises(SourceError, match=r"lost the stream http://127\.0\.0\.1:\d+/stream\.mjpg: no frames "
                                          r"after 2 reconnect attempts"):
        for _ in range(5000):  # buffered frames drain first
            assert time.monotonic() < deadline, "the source neither failed nor stopped in time"
            assert source.read() is not None
    assert source.read() is None  # after the error the source reads as ended, it does not raise again
    source.close()


def test_unreachable_url_fails_fast_with_a_clear_message_and_no_password(stream_plugin: object) -> None:
    url = f"http://viewer:secret@127.0.0.1:{free_port()}/live.mjpg"
    started = time.monotonic()

    with pytest.raises(SourceError) as caught:
        open_source(url)

    message = str(caught.value)
    assert message.startswith(f"cannot connect to http://viewer:***@127.0.0.1:{url.split(':')[3]} (3 attempts")
    assert "secret" not in message and "running and reachable" in message
    assert time.monotonic() - started < 15
    assert get_manager().record("stream").error is None  # a bad address is the user's, not the plugin's


def test_stream_plugin_only_claims_network_urls(stream_plugin: object) -> None:
    assert stream_plugin.can_open("rtsp://cam.local:554/h264")
    assert stream_plugin.can_open("HTTP://example.org/video.mjpg")
    assert not stream_plugin.can_open("/videos/street.mp4")
    assert not stream_plugin.can_open("webcam:0")
    assert not stream_plugin.can_open("http://")


WHOLE_FRAME_DETECTOR = """
import numpy as np
from detector_app.core.detections import Detections
from detector_app.plugins_api import API_VERSION, DetectionModel, DetectorPlugin


class WholeFrameModel(DetectionModel):
    class_names = ("__background__", "frame")

    def predict(self, image_bgr):
        h, w = image_bgr.shape[:2]
        return Detections(np.array([[0, 0, w, h]]), np.array([0.9]), np.array([1]), self.class_names)


class WholeFrame(DetectorPlugin):
    name = "whole_frame"
    version = "1.0"
    api_version = API_VERSION

    def load(self, options=""):
        return WholeFrameModel()


PLUGINS = [WholeFrame]
"""


def test_detect_cli_reads_a_stream_with_a_plugin_detector(capsys: pytest.CaptureFixture) -> None:
    app_paths().user_plugins.mkdir(parents=True)
    (app_paths().user_plugins / "whole_frame.py").write_text(WHOLE_FRAME_DETECTOR)
    server = MjpegServer(first_connection_frames=10_000)
    try:
        code = main(["detect", server.url, "--model", "plugin:whole_frame", "--max-frames", "5"])
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert code == 0
    assert "done: 5 frames, 5 detections" in out and "classes: frame 5" in out
