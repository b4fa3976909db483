"""Frame stepping in the window (a video task on the canvas): what a key press costs, against the core alone.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_video_ui.py [--video PATH] [--tracks 10]

Opens the video as a task in the real main window (offscreen), stores ``--tracks`` tracks with a keyframe every 40
frames, then steps. Baseline, in the same run and on the same frames: ``VideoTasks.frame`` + ``boxes_at`` (the
decode cache and the database, no Qt). Then the window's step (``VideoController.step``: the frame on the canvas,
its boxes as items, the box table, the timeline cursor, the status text) with the paint it causes (events
processed). Forward steps decode; backward steps hit the cache. Default video: ``../shared/data/video`` 's
car-detection.mp4 (768x432 H.264) when present, else a generated 640x480 MJPG clip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SHARED_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video" / "car-detection.mp4"


def generated_video(path: Path, frames: int = 400) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 480))
    rng = np.random.default_rng(0)
    background = cv2.resize(rng.integers(60, 200, (24, 32, 3), dtype=np.uint8), (640, 480))
    for i in range(frames):
        image = background.copy()
        cv2.rectangle(image, (20 + i % 500, 200), (120 + i % 500, 280), (0, 200, 0), -1)
        writer.write(image)
    writer.release()
    return path


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of ``n`` calls."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return statistics.median(out), float(np.percentile(out, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path)
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    video_path = args.video or (SHARED_VIDEO if SHARED_VIDEO.is_file() else generated_video(tmp / "clip.avi"))

    app = QApplication.instance() or QApplication([])
    from detector_app.ui.main_window import MainWindow

    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("model/preset", "retinanet_light")
    settings.setValue("model/weights", "none")
    window = MainWindow(settings, project_path=tmp / "project")
    window.resize(1280, 800)
    window.show()
    deadline = time.monotonic() + 120
    while window.detector is None and time.monotonic() < deadline:  # a model loading would share the CPU
        app.processEvents()
        time.sleep(0.05)
    window.project.repo.ensure_category("car")
    ctrl = window.video
    video = ctrl.open_video(video_path)
    assert video is not None, "the video could not be opened"
    tasks = ctrl.tasks
    for k in range(args.tracks):
        track = tasks.new_track(video.id, 5 * k, "car", (10 + 20 * k, 50, 60, 40)).tracks_after[0]
        for f in range(5 * k + 40, video.frame_count, 40):
            tasks.set_box(track.id, f, (30 + 20 * k, 60, 60, 40))
    steps = min(args.steps, video.frame_count // 2 - 1)
    print(f"{video_path.name}: {video.frame_count} frames {video.width}x{video.height}, {args.tracks} tracks, "
          f"{steps} steps; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")

    at = iter(range(1, video.frame_count))
    core_fwd = timed(lambda: (tasks.frame(video.id, (i := next(at))), tasks.boxes_at(video.id, i)), steps)
    at = iter(range(steps, 0, -1))
    core_back = timed(lambda: (tasks.frame(video.id, (i := next(at))), tasks.boxes_at(video.id, i)), steps)

    ctrl.refresh(steps)  # the window from further on: its forward steps decode too
    forward = timed(lambda: (ctrl.step(1), app.processEvents()), steps)
    backward = timed(lambda: (ctrl.step(-1), app.processEvents()), steps)
    big = timed(lambda: (ctrl.step(-10), app.processEvents()), max(1, steps // 10 - 1))

    print(f"{'':34}{'p50 ms':>8}{'p99 ms':>8}")
    for name, (p50, p99) in (("core: frame + boxes, forward", core_fwd), ("core: frame + boxes, back (cache)", core_back),
                             ("window step →, with paint", forward), ("window step ←, with paint (cache)", backward),
                             ("window Shift+← (10 frames)", big)):
        print(f"{name:34}{p50:8.1f}{p99:8.1f}")
    print(f"window over core (p50, forward): +{forward[0] - core_fwd[0]:.1f} ms for canvas, items, table, paint; "
          f"target p99 < 50 ms")
    window.close()


if __name__ == "__main__":
    main()
