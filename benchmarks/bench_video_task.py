"""A 100,000-frame video as a labelling task: open time, stepping and seeking through the decode cache, memory.

    .venv/bin/python benchmarks/bench_video_task.py [--frames 100000] [--video PATH] [--tracks 20 --keyframes 50]

The video is written once with OpenCV into a temporary folder (160x120 MJPG at 25 fps, a few KB a frame;
MJPG because every frame is a keyframe, as in many labelling exports; ``--codec mp4v`` for an inter-frame codec)
with the frame index drawn as 17 black/white blocks, so every decoded frame is checked to be the one asked for.
First the baseline, on the same frames: plain ``cv2.VideoCapture`` with a ``CAP_PROP_POS_FRAMES`` seek before
every read. Then, in a fresh project:

1. Open the video as a task (probe, fingerprint, one row) and show frame 0 (decode + boxes): target < 1 s.
   ``--tracks`` tracks with ``--keyframes`` keyframes each are then stored, and opening again (the existing
   task) plus reading its timeline is timed too.
2. Step forward 1,000 frames from the middle, and seek to 200 random frames, through ``VideoTasks.frame``
   (the decode cache): p50 / p99 ms; target p99 < 50 ms for stepping. Each also with ``boxes_at`` (what the
   window asks for every frame shown).
3. Peak RSS of the process (``ru_maxrss``) and the bytes the cache holds against its budget.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector_app.review.video_edits import VideoTasks  # noqa: E402
from detector_app.storage import Project  # noqa: E402

BITS = 17  # frame index up to 131,071
BLOCK = 8


def write_video(path: Path, frames: int, codec: str, size: tuple[int, int] = (160, 120)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25.0, size)
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write {codec} here")
    rng = np.random.default_rng(0)
    # smooth backgrounds (coarse noise scaled up): JPEG-friendly like real footage, a few KB a frame
    backgrounds = [cv2.resize(rng.integers(60, 200, (size[1] // 20, size[0] // 20, 3), dtype=np.uint8), size,
                              interpolation=cv2.INTER_CUBIC) for _ in range(8)]
    for i in range(frames):
        image = backgrounds[(i // 250) % len(backgrounds)].copy()
        x = 20 + (i * 2) % (size[0] - 60)
        image[40:90, x:x + 30] = (0, 200, 0)
        for bit in range(BITS):
            image[:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if (i >> bit) & 1 else 0
        writer.write(image)
    writer.release()


def frame_number(image: np.ndarray) -> int:
    blocks = image[2:BLOCK - 2, :BITS * BLOCK].reshape(BLOCK - 4, BITS, BLOCK, 3)[:, :, 2:BLOCK - 2]
    return sum(1 << bit for bit, on in enumerate(blocks.mean(axis=(0, 2, 3)) > 127) if on)


def timed(calls: list[int], fetch: Callable[[int], np.ndarray]) -> tuple[list[float], int]:
    """Milliseconds per call, and how many frames came back wrong."""
    times, wrong = [], 0
    for index in calls:
        start = time.perf_counter()
        image = fetch(index)
        times.append((time.perf_counter() - start) * 1000)
        wrong += frame_number(image) != index
    return times, wrong


def p(times: list[float], q: float) -> float:
    return float(np.percentile(times, q))


def report(name: str, times: list[float], wrong: int) -> None:
    print(f"  {name:<44} p50 {p(times, 50):7.2f} ms  p99 {p(times, 99):7.2f} ms  max {max(times):7.2f} ms"
          f"  wrong frames {wrong}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--codec", default="MJPG", help="FourCC to write the synthetic video with (MJPG, mp4v)")
    parser.add_argument("--video", type=Path, help="the synthetic video: used when it exists, else written there "
                                                    "(kept for the next run); default: a temporary file")
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--keyframes", type=int, default=50)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeks", type=int, default=200)
    parser.add_argument("--budget-mb", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or Path(tmp) / f"long.{'avi' if args.codec == 'MJPG' else 'mp4'}"
        if not video.exists():
            start = time.perf_counter()
            write_video(video, args.frames, args.codec)
            print(f"wrote {args.frames} frames 160x120 {args.codec} ({video.stat().st_size / 1e6:.1f} MB) in "
                  f"{time.perf_counter() - start:.1f} s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (the figures below are wall times on "
              f"this machine as it is); RSS before {rss_mb():.0f} MB")
        cap = cv2.VideoCapture(str(video))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rng = random.Random(1)
        middle = count // 2
        steps = list(range(middle, min(middle + args.steps, count)))
        seeks = [rng.randrange(count) for _ in range(args.seeks)]

        def seek_read(i: int) -> np.ndarray:
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, image = cap.read()
            assert ok, i
            return image

        print("\nbaseline (measured first): cv2.VideoCapture, a CAP_PROP_POS_FRAMES seek before every read")
        report(f"step forward {len(steps)} frames", *timed(steps, seek_read))
        report(f"seek to {len(seeks)} random frames", *timed(seeks, seek_read))
        cap.release()
        rss_baseline = rss_mb()

        with Project.open(Path(tmp) / "project") as project:
            tasks = VideoTasks(project.repo, cache_bytes=args.budget_mb * 1024 * 1024)
            start = time.perf_counter()
            v = tasks.open_video(video)
            opened = time.perf_counter() - start
            tasks.frame(v.id, 0)
            tasks.boxes_at(v.id, 0)
            shown = time.perf_counter() - start
            print(f"\n1. open a {v.frame_count}-frame video as a task: {opened * 1000:.0f} ms; with frame 0 decoded "
                  f"and its boxes read: {shown * 1000:.0f} ms (target < 1000 ms); image rows: "
                  f"{project.repo.count_images()}")
            for t in range(args.tracks):
                frames = sorted(rng.sample(range(v.frame_count), args.keyframes))
                track = tasks.new_track(v.id, frames[0], "object", (10 + t, 10, 20, 20)).tracks_after[0]
                assert track is not None
                for f in frames[1:]:
                    tasks.set_box(track.id, f, (rng.uniform(0, 100), rng.uniform(0, 80), 20, 20))
            tasks.close()
            tasks = VideoTasks(project.repo, cache_bytes=args.budget_mb * 1024 * 1024)
            start = time.perf_counter()
            v = tasks.open_video(video)
            lines = tasks.timeline(v.id)
            tasks.frame(v.id, 0)
            tasks.boxes_at(v.id, 0)
            print(f"   open it again with {args.tracks} tracks x {args.keyframes} keyframes, read the timeline "
                  f"({len(lines)} tracks) and show frame 0: {(time.perf_counter() - start) * 1000:.0f} ms")

            print(f"\n2. decode cache ({args.budget_mb} MB budget)")
            step_times, step_wrong = timed(steps, lambda i: tasks.frame(v.id, i))
            report(f"step forward {len(steps)} frames", step_times, step_wrong)
            report(f"seek to {len(seeks)} random frames", *timed(seeks, lambda i: tasks.frame(v.id, i)))

            def with_boxes(i: int) -> np.ndarray:
                image = tasks.frame(v.id, i)
                tasks.boxes_at(v.id, i)
                return image

            back = list(range(middle + args.steps + 500, middle + args.steps + 500 + args.steps))
            back = [i for i in back if i < v.frame_count]
            report(f"step {len(back)} frames + boxes_at", *timed(back, with_boxes))
            report(f"seek {len(seeks)} random frames + boxes_at", *timed(seeks[::-1], with_boxes))
            cache = tasks._caches[v.id]
            print(f"   cache holds {cache.cached_bytes / 2**20:.1f} MB of {cache.budget_bytes / 2**20:.0f} MB; "
                  f"seeks exact: {cache.exact_seek}; {cache.stats}")
            verdict = "met" if p(step_times, 99) < 50 else "NOT met"
            print(f"   stepping p99 {p(step_times, 99):.2f} ms: target < 50 ms {verdict}")
            tasks.close()

        print(f"\n3. peak RSS {rss_mb():.0f} MB (after the baseline: {rss_baseline:.0f} MB; cache budget "
              f"{args.budget_mb} MB); load average now {os.getloadavg()[0]:.1f}")
        print(f"   median step with the cache {statistics.median(step_times):.2f} ms")


if __name__ == "__main__":
    main()
