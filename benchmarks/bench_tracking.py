"""Tracker cost and quality, and how well live overlays keep up, measured in one run.

    .venv/bin/python benchmarks/bench_tracking.py [--frames 300] [--objects 50] [--seeds 3]

1. Cost per frame with ``--objects`` moving objects (10% of boxes dropped, jittered): our ByteTrack, supervision's
   ByteTrack, and a plain IoU-greedy matcher as the baseline, wall and CPU time (this machine is shared: the
   load average is printed; CPU time is the steadier figure).
2. Quality on generated sequences (textured shapes over vtest.avi, crossings, a post that hides objects) with
   true boxes plus noise and 10% drops: MOTA, IDF1 (motmetrics), HOTA (TrackEval, in the peer venv).
3. Live overlay: a 25 fps source, the detector giving a result every 13th frame 12 frames late (about 2 fps);
   mean IoU of the box drawn on every displayed frame with the true box, for the overlay that follows tracks
   (optical flow; velocity) against the last detection as is, and the overlay's cost per captured frame.
4. The same in real time, threaded as in the live view (tracking/live.py): a player thread paced at 25 fps
   feeding the overlay, a detector thread taking the newest frame and answering with its noisy true boxes
   after 0.5 s, a view thread drawing the newest frame's boxes; display and detector fps, mean IoU of the
   drawn boxes with the truth (following vs the last detection), CPU ms per frame and per result.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector_app.core.detections import Detections
from detector_app.detection.live import LatestSlot, RateMeter
from detector_app.tracking import NO_TRACK, OverlayPredictor, Tracked, Tracker, TrackerConfig
from detector_app.tracking.geometry import iou_matrix
from detector_app.tracking.live import LiveOverlay
from tests.synthetic_tracks import (
    live_overlay_iou,
    make_track_sequence,
    matched_iou,
    mot_scores,
    noisy_detections,
    video_backgrounds,
)

VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "video" / "vtest.avi"


class GreedyIoU:
    """The baseline: each box takes the free track of the previous frame it overlaps most (IoU >= 0.3)."""

    def __init__(self) -> None:
        self.boxes, self.ids, self.next_id = np.zeros((0, 4)), np.zeros(0, int), 1

    def update(self, detections: Detections) -> Tracked:
        iou = iou_matrix(self.boxes, detections.boxes)
        ids = np.full(len(detections), NO_TRACK, np.int64)
        for flat in np.argsort(-iou, axis=None):
            row, col = divmod(int(flat), iou.shape[1])
            if iou[row, col] < 0.3:
                break
            if ids[col] == NO_TRACK and self.ids[row] not in ids:
                ids[col] = self.ids[row]
        for col in np.flatnonzero(ids == NO_TRACK):
            ids[col], self.next_id = self.next_id, self.next_id + 1
        self.boxes, self.ids = detections.boxes, ids
        return Tracked(detections, ids)


def crowd(frames: int, objects: int, seed: int = 0) -> list[Detections]:
    """``objects`` boxes drifting over a 1920x1080 frame, jittered, 10% missing on each frame."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 1800, (objects, 2)) * [1, 0.55]
    vel = rng.normal(0, 4, (objects, 2))
    side = rng.uniform(30, 90, (objects, 1))
    out = []
    for _ in range(frames):
        vel += rng.normal(0, 0.3, vel.shape)
        pos += vel
        boxes = np.hstack([pos, pos + side]) + rng.normal(0, 1.5, (objects, 4))
        keep = rng.random(objects) >= 0.1
        out.append(Detections(boxes[keep], rng.uniform(0.3, 0.95, keep.sum()), np.ones(keep.sum())))
    return out


def cost(make: object, dets: list[Detections]) -> tuple[float, float, float]:
    """(median wall ms, p95 wall ms, mean CPU ms) per frame."""
    tracker = make()  # type: ignore[operator]
    walls = []
    cpu0 = time.process_time()
    for d in dets:
        start = time.perf_counter()
        tracker.update(d)
        walls.append((time.perf_counter() - start) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / len(dets)
    return statistics.median(walls), float(np.percentile(walls, 95)), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    trackers = {"ours (bytetrack)": lambda: Tracker(TrackerConfig(rate=25)),
                "supervision ByteTrack": lambda: Tracker(TrackerConfig(rate=25, backend="supervision")),
                "IoU-greedy baseline": GreedyIoU}

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"\n1. cost per frame, {args.objects} objects, {args.frames} frames")
    dets = crowd(args.frames, args.objects)
    for name, make in trackers.items():
        median, p95, cpu = cost(make, dets)
        print(f"   {name:24s} median {median:6.2f} ms  p95 {p95:6.2f} ms  CPU {cpu:6.2f} ms")

    if not VIDEO.is_file():
        print(f"\n{VIDEO} not found: the quality and overlay figures need it")
        return
    print(f"\n2. quality, true boxes + noise, 10% dropped; {args.seeds} sequences of {args.frames} frames, 6 objects")
    sequences = [make_track_sequence(video_backgrounds(VIDEO, args.frames, start=131 * s), objects=6, seed=s)
                 for s in range(args.seeds)]
    noisy = [noisy_detections(seq, seed=s, drop=0.1) for s, seq in enumerate(sequences)]
    for name, make in trackers.items():
        scores = [mot_scores(seq, [t.update(d) for t in [make()] for d in dets])
                  for seq, dets in zip(sequences, noisy, strict=True)]
        mean = {k: statistics.mean(s[k] for s in scores) for k in scores[0]}
        hota = f"  HOTA {mean['hota']:.3f}" if "hota" in mean else "  HOTA n/a (no peer venv: make peers)"
        print(f"   {name:24s} MOTA {mean['mota']:.3f}  IDF1 {mean['idf1']:.3f}{hota}  "
              f"ID switches {mean['num_switches']:.1f}")

    print("\n3. live overlay, 25 fps source, a result every 13th frame, 12 frames late (detector ~2 fps)")
    for mode in ("flow", "velocity", "hold"):
        ious, per_frame = [], []
        for seq, dets in zip(sequences, noisy, strict=True):
            predictor = OverlayPredictor(mode)
            start = time.perf_counter()
            ious.append(live_overlay_iou(seq, dets.__getitem__, predictor))
            per_frame.append((time.perf_counter() - start) * 1000 / len(seq.frames))
        label = {"flow": "tracks, optical flow", "velocity": "tracks, velocity only",
                 "hold": "last detection (baseline)"}[mode]
        print(f"   {label:28s} mean IoU with the truth {statistics.mean(ious):.3f}  "
              f"({statistics.mean(per_frame):.1f} ms per captured frame)")

    print("\n4. real time, threaded: player at 25 fps, detector 0.5 s per result, view drawing the newest frame")
    for follow in (True, False):
        run = real_time(sequences[0], noisy[0], follow)
        label = "tracks, optical flow" if follow else "last detection (baseline)"
        print(f"   {label:28s} display {run['display_fps']:.1f} fps, detector {run['detector_fps']:.1f} fps, "
              f"mean IoU {run['iou']:.3f}, overlay CPU per frame median {run['frame_median']:.1f} ms "
              f"p95 {run['frame_p95']:.1f} ms, per result {run['result_median']:.1f} ms")


def real_time(seq: object, dets: list[Detections], follow: bool, detector_s: float = 0.5) -> dict[str, float]:
    """One pass over ``seq`` at its frame rate with three threads, as the live view runs them."""
    overlay, to_detect, to_show = LiveOverlay(), LatestSlot(), LatestSlot()
    overlay.set_enabled(follow)
    latest: list = [None]  # the newest result: (frame index, its detections), for the baseline
    display, detector, ious = RateMeter(300), RateMeter(300), []
    done = threading.Event()

    def player() -> None:
        due = time.monotonic()
        for k, frame in enumerate(seq.frames):
            overlay.add_frame(frame, k, k / seq.fps)
            to_detect.put(k)
            to_show.put(k)
            due += 1 / seq.fps
            time.sleep(max(0.0, due - time.monotonic()))
        done.set()
        to_detect.close()
        to_show.close()

    def detect() -> None:
        while (k := to_detect.get()) is not None and not done.is_set():
            time.sleep(detector_s)
            overlay.add_result(k, k / seq.fps, dets[k])
            latest[0] = (k, dets[k])
            detector.tick()

    def view() -> None:
        while (k := to_show.get()) is not None:
            display.tick()
            if latest[0] is None:
                continue
            if follow:
                drawn = np.array([b.box for b in overlay.boxes_for(k, k / seq.fps) or []], np.float32)
            else:
                drawn = latest[0][1].boxes
            ious.append(matched_iou(seq.boxes[k], drawn.reshape(-1, 4)))

    threads = [threading.Thread(target=t) for t in (player, detect, view)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    costs = overlay.cost_ms() if follow else {"frame_median": 0.0, "frame_p95": 0.0, "result_median": 0.0}
    return {"display_fps": display.rate, "detector_fps": detector.rate,
            "iou": float(np.concatenate(ious).mean()), **costs}


if __name__ == "__main__":
    main()
