"""Inference throughput: a naive torchvision loop against this app's pipeline, same model and input size.

    python benchmarks/bench_inference.py [--video PATH] [--frames 16] [--rounds 2] [--size 512]

(a) naive: cv2.read -> to_tensor -> model([t]) in fp32 under torch.no_grad(), one frame at a time.
(b) pipeline: VideoSource read ahead in a thread -> Detector (fast path: bf16 + channels-last + folded
    BatchNorm where the CPU has bf16) -> detect_frames with its default workers (on a CPU, two frames at
    once on one core each), as `detector-app detect` runs.
(c) int8 pipeline: the same with `detect --int8` (OpenVINO int8, calibrated on the first 8 frames during
    the warm-up; the calibration time is printed on its own). Skipped when OpenVINO/NNCF are missing.
``--breakdown`` adds each pipeline with a single worker (all threads on one frame at a time).
The two alternate in blocks of ``--frames`` so that load from other processes hits both alike; the ratio
is computed from the same run. Weights are random (no pretrained file needed): speed does not depend on them.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.transforms.functional import to_tensor

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from detector_app.detection.batch import default_workers, detect_frames  # noqa: E402
from detector_app.detection.detector import Detector, DetectorConfig, limit_cpu_threads  # noqa: E402
from detector_app.detection.int8 import CALIBRATION_FRAMES, int8_unavailable_reason  # noqa: E402
from detector_app.detection.weights import load_model  # noqa: E402
from detector_app.sources.video import VideoSource  # noqa: E402

DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "video" / "vtest.avi"


def make_video(path: Path, frames: int = 120, size: tuple[int, int] = (768, 576)) -> Path:
    """A stand-in clip (moving rectangles on noise) when the real test video is absent."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        img = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        cv2.rectangle(img, (20 + 4 * i, 100), (140 + 4 * i, 300), (40, 200, 40), -1)
        writer.write(img)
    writer.release()
    return path


def naive_block(model: torch.nn.Module, video: Path, start: int, n: int) -> float:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(n):
            ok, frame = cap.read()
            if not ok:
                raise RuntimeError(f"{video} has fewer than {start + n} frames")
            model([to_tensor(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))])
    elapsed = time.perf_counter() - t0
    cap.release()
    return elapsed


def pipeline_block(detector: Detector, video: Path, start: int, n: int, workers: int) -> float:
    t0 = time.perf_counter()
    source = VideoSource(video)
    source.seek(start)
    done = sum(1 for _ in detect_frames(islice(source, n), detector, workers=workers))
    elapsed = time.perf_counter() - t0
    source.close()
    if done != n:
        raise RuntimeError(f"pipeline processed {done} of {n} frames")
    return elapsed


def gflop_per_frame(model: torch.nn.Module, video: Path) -> float:
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    cap.release()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model([to_tensor(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))])
    return counter.get_total_flops() / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--preset", default="retinanet_r50_fpn")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=16, help="frames per block")
    parser.add_argument("--rounds", type=int, default=2, help="naive/pipeline block pairs")
    parser.add_argument("--workers", type=int, default=None, help="pipeline inference workers (default: auto)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the fast path with a single inference worker")
    args = parser.parse_args(argv)

    limit_cpu_threads()
    os.environ["DETECTOR_APP_HOME"] = tempfile.mkdtemp()  # calibrate int8 afresh, leave the user's cache alone
    video = args.video
    if not video.is_file():
        video = make_video(Path(tempfile.mkdtemp()) / "generated.avi")
        print(f"{args.video} not found; using a generated clip {video}")
    loaded = load_model(args.preset, weights="none", seed=0)
    reference = copy.deepcopy(loaded.model).eval()
    reference.transform.min_size = (args.size,)
    detector = Detector(loaded, DetectorConfig(size=args.size))
    reference.transform.max_size = detector.config.max_size
    workers = args.workers or default_workers(detector)
    gflop = gflop_per_frame(reference, video)

    print(f"model {args.preset}, input {args.size} px, video {video.name}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"pipeline: device {detector.device}, precision {detector.precision}, {workers} inference worker(s)")
    print(f"model cost: {gflop:.1f} GFLOP per frame (FlopCounterMode); GFLOP/s below = that x frames/s "
          "(for int8, effective: the int8 operations counted as the fp32 FLOPs they replace)")

    # Warm-up: first calls create oneDNN primitives and allocate memory.
    naive_block(reference, video, 0, 1)
    pipeline_block(detector, video, 0, max(2, workers), workers)
    detectors = {"pipeline": detector}
    no_int8 = int8_unavailable_reason()
    if no_int8:
        print(f"int8 pipeline skipped: {no_int8}")
    elif detector.device.type == "cpu":
        int8 = Detector(loaded, DetectorConfig(size=args.size, int8=True))
        started = time.perf_counter()
        pipeline_block(int8, video, 0, CALIBRATION_FRAMES + workers, workers)
        print(f"int8 calibration (once per model, then cached): {time.perf_counter() - started:.1f} s "
              f"including {CALIBRATION_FRAMES + workers} frames; now {int8.precision}")
        detectors["int8 pipeline"] = int8

    variants = {"naive loop": lambda start: naive_block(reference, video, start, args.frames)}
    for name, det in detectors.items():
        variants[name] = lambda start, d=det: pipeline_block(d, video, start, args.frames, workers)
        if args.breakdown:
            variants[f"{name}, 1 worker"] = lambda start, d=det: pipeline_block(d, video, start, args.frames, 1)
    seconds = dict.fromkeys(variants, 0.0)
    for r in range(args.rounds):
        start = r * args.frames
        for name, run in variants.items():  # alternate, so that outside load hits every variant alike
            seconds[name] += run(start)
        print(f"  round {r + 1}: " + ", ".join(f"{k} {(r + 1) * args.frames / v:.2f} fps" for k, v in seconds.items()),
              flush=True)

    n = args.frames * args.rounds
    fps = {name: n / s for name, s in seconds.items()}
    for name, value in fps.items():
        print(f"{name:<24}: {value:6.2f} frames/s  {value * gflop:7.1f} GFLOP/s  "
              f"({value / fps['naive loop']:.2f}x)")
    for name in detectors:
        print(f"ratio {name:<18}: {fps[name] / fps['naive loop']:.2f}x  ({name} / naive loop, {n} frames each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
