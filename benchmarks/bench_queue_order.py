"""Uncertainty queue benchmark: ranking the unreviewed images of a generated project, boxes read one image at a
time (one query per image, as before) versus in bulk (``Repository.annotations_for_images``, a query per few
hundred images). Both give the same order. With ``--window``, also the real window on that project: how long
the ranking takes on its worker, the longest the event loop is blocked meanwhile (a 10 ms timer's lateness), and
the UI thread's time to re-sort the "To review" list.

    .venv/bin/python benchmarks/bench_queue_order.py [--images 2000] [--per-image 5] [--repeat 5] [--window]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from detector_app.core.detections import Detections
from detector_app.storage import Project
from detector_app.training.uncertainty import model_boxes, rank, review_queue

NAMES = ("__background__", "cat", "dog", "bird")


def make_project(root: Path, n_images: int, per_image: int, seed: int = 0) -> Path:
    """``n_images`` tiny PNGs registered in one go, ``per_image`` predictions of one version on each."""
    images = root / "images"
    images.mkdir(parents=True)
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 80, 160)).save(buf, format="PNG")
    for i in range(n_images):
        (images / f"img_{i:06d}.png").write_bytes(buf.getvalue())
    rng = np.random.default_rng(seed)
    with Project.open(root / "project") as project:
        repo = project.repo
        ids = [r.id for r in repo.add_images_from_folder(images)]
        version = repo.add_model_version("v1", "retinanet_light", list(NAMES[1:])).id
        items = []
        for image_id in ids:
            xy = rng.uniform(0, 200, (per_image, 2))
            boxes = np.hstack([xy, xy + rng.uniform(10, 100, (per_image, 2))]).astype(np.float32)
            items.append((image_id, Detections(boxes, rng.uniform(0, 1, per_image).astype(np.float32),
                                               rng.integers(1, 4, per_image), NAMES)))
        repo.add_predictions_many(items, model_version_id=version)
    return root / "project"


def per_image_queue(repo: object) -> list:
    """The queue as it was read before the bulk read: one ``annotations_for_image`` query per image."""
    images = {i: model_boxes(repo.annotations_for_image(i)) for i in repo.image_ids("unreviewed")}  # type: ignore[attr-defined]
    return rank(images)


def best_of(fn, repeat: int) -> tuple[float, list]:
    times, result = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def window_figures(path: Path) -> list[str]:
    """The window ranks on a worker: time to the ranking, event-loop stalls meanwhile, the re-sort's UI time."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from event_loop_probe import EventLoopProbe  # next to this script
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from detector_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(path.parent / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("model/weights", "none")
    settings.setValue("model/preset", "retinanet_light")
    win = MainWindow(settings, project_path=path)
    win.show()
    deadline = time.perf_counter() + 120
    while win.detector is None and time.perf_counter() < deadline:  # the model load is not what is measured
        app.processEvents()
        time.sleep(0.01)
    order = win.queue_order
    while order._running is not None:
        app.processEvents()
    order.entries, order._rank = [], {}
    probe = EventLoopProbe(10)
    done: list[float] = []
    order.ranked.connect(lambda: done.append(time.perf_counter()))
    probe.start()
    start = time.perf_counter()
    order.recompute()
    while not done and time.perf_counter() < deadline:
        app.processEvents()
    probe.stop()
    resort = time.perf_counter()
    win.images.refresh_image_list()
    resort = time.perf_counter() - resort
    stalls = probe.summary_ms()
    rows = win.image_model.rowCount()
    win.close()
    return [f"  window: ranking on the worker {done[0] - start:.3f} s; event loop meanwhile: stall p50 "
            f"{stalls['p50']:.1f} ms, p99 {stalls['p99']:.1f} ms, max {stalls['max']:.1f} ms",
            f"  window: re-sorting the 'To review' list ({rows} rows) on the UI thread {resort * 1000:.1f} ms"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--per-image", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--window", action="store_true", help="also measure the real window (Qt, offscreen)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_project(Path(tmp), args.images, args.per_image)
        with Project.open(path, create=False) as project:
            before, after = float("inf"), float("inf")
            for _ in range(args.repeat):  # interleaved: a shared machine's load shifts hit both alike
                t, slow = best_of(lambda: per_image_queue(project.repo), 1)
                before = min(before, t)
                t, fast = best_of(lambda: review_queue(project.repo), 1)
                after = min(after, t)
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                project.repo.annotations_for_images(project.repo.image_ids("unreviewed"))
                times.append(time.perf_counter() - start)
        window = window_figures(path) if args.window else []
    assert [e.image_id for e in slow] == [e.image_id for e in fast], "bulk and per-image orders differ"
    print(f"{args.images} unreviewed images, {args.per_image} predictions each (best of {args.repeat})")
    print(f"  queue order, one query per image : {before:7.3f} s")
    print(f"  queue order, bulk read           : {after:7.3f} s  ({before / after:.1f}x faster)")
    print(f"  bulk read of the boxes alone     : {statistics.median(times):7.3f} s (median)")
    print("\n".join(window))


if __name__ == "__main__":
    main()
