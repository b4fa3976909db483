"""UI event-loop stalls while the real RetinaNet R50-FPN (random weights, 512 px) runs on a video.

Prints p50 / p99 / max stall of a 10 ms QTimer probe in the UI thread, for an idle UI (baseline,
same run) and with live detection running. Goal: p99 <= 50 ms on a 2-core CPU.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from event_loop_probe import EventLoopProbe
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.detection.weights import load_model
from detector_app.sources import open_source
from detector_app.ui.canvas import AnnotationCanvas
from detector_app.ui.live_view import LiveController

VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video" / "vtest.avi"
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))


def spin(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def measure(seconds: float) -> dict[str, float]:
    probe = EventLoopProbe(10)
    probe.start()
    spin(seconds)
    probe.stop()
    return probe.summary_ms()


def video_path() -> Path:
    if VIDEO.is_file():
        return VIDEO
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_ui_live import make_video

    return make_video(Path(tempfile.mkdtemp()) / "clip.avi", frames=300, size=(768, 576), fps=10)


def main() -> None:
    app = QApplication.instance() or QApplication([])
    canvas = AnnotationCanvas()
    canvas.resize(1000, 700)
    canvas.show()
    idle = measure(3)
    detector = Detector(load_model("retinanet_r50_fpn", weights="none", seed=0), DetectorConfig(size=512))
    live = LiveController(canvas, lambda: 0.05, lambda: None)
    video = video_path()
    live.start(lambda: open_source(video), detector)
    while live.result is None:
        spin(0.2)
    start_frames = live.frames_shown
    t0 = time.perf_counter()
    busy = measure(SECONDS)
    shown_fps = (live.frames_shown - start_frames) / (time.perf_counter() - t0)
    live.stop()
    print(f"video: {video.name}, detector: {detector.name}, device: {detector.device}, "
          f"fast path: {detector.fast_path_active}")
    for name, s in (("idle UI (baseline)", idle), ("live detection", busy)):
        print(f"{name:>20}: stalls p50 {s['p50']:.1f} ms  p99 {s['p99']:.1f} ms  max {s['max']:.1f} ms  "
              f"({int(s['n'])} probes)")
    print(f"frames shown: {shown_fps:.1f} fps; goal p99 <= 50 ms: {'met' if busy['p99'] <= 50 else 'NOT met'}")
    app.processEvents()


if __name__ == "__main__":
    main()
