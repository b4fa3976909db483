"""Seconds per training image at 512 px, per freeze level, on this machine, in one run.

    .venv/bin/python benchmarks/bench_training.py [--preset retinanet_light] [--size 512] [--steps 4]

Modes: heads only (backbone + FPN frozen) with features computed every step and with cached features,
heads + FPN, and everything. For the cached mode the one-off cost of computing the cache is printed
separately (per image, for the image and its mirror). Images are generated shapes; the numbers are
for fp32 and, where the CPU supports it, bf16 autocast.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector_app.detection.presets import PRESETS, build_model
from detector_app.training.data import DetectionDataset, Sample, make_transform
from detector_app.training.features import FeatureCache, batch_loss, image_batches
from detector_app.training.loop import train_one_epoch
from detector_app.training.model_setup import apply_freeze, bf16_supported, set_train_mode
from tests.synthetic_shapes import SHAPES, make_shapes_dataset

MODES = ("heads", "heads+cache", "fpn", "all")


def make_samples(folder: Path, count: int, size: int) -> list[Sample]:
    data = make_shapes_dataset(count, seed=0, out_dir=folder, size=size, objects=(2, 5), object_size=(0.08, 0.3))
    return [Sample(i, d.path, d.width, d.height, d.boxes, d.labels) for i, d in enumerate(data.images)]


def bench_mode(preset: str, mode: str, samples: list[Sample], size: int, batch: int, steps: int,
               bf16: bool) -> tuple[float, float | None]:
    """(seconds per image per step, one-off cache seconds per image or None)."""
    device = torch.device("cpu")
    torch.manual_seed(0)
    model = build_model(preset, len(SHAPES) + 1)
    level = "heads" if mode.startswith("heads") else mode
    params = apply_freeze(model, level)
    set_train_mode(model, level, train_batchnorm=PRESETS[preset].coco_weights is None)
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    n_batches = steps + 1
    rng = np.random.default_rng(0)
    cache_s = None
    if mode == "heads+cache":
        plain = DetectionDataset(samples[:n_batches * batch], SHAPES, make_transform(size))
        cache = FeatureCache()
        start = time.perf_counter()
        cache.build(model, plain, device, bf16)
        cache_s = (time.perf_counter() - start) / len(plain)
        batches, loss_fn = list(cache.epoch_batches(rng, batch)), cache.loss
    else:
        dataset = DetectionDataset(samples, SHAPES, make_transform(size, 0.2, flip=True, photometric=True))
        batches = [b for _, b in zip(range(n_batches), image_batches(dataset, batch, rng), strict=False)]
        loss_fn = batch_loss

    times: list[float] = []
    last = time.perf_counter()

    def on_step(step: int, _losses: dict[str, float], _batch: object) -> None:
        """Wall seconds of each step after the first (oneDNN picks its kernels in the first ones)."""
        nonlocal last
        now = time.perf_counter()
        if step > 1:
            times.append(now - last)
        last = now

    # The app's own loop, at a constant learning rate.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)
    train_one_epoch(model, optimizer, scheduler, iter(batches), device, steps=len(batches), epoch=0, params=params,
                    clip_grad_norm=10.0, loss_fn=loss_fn, bf16=bf16, on_step=on_step)
    return statistics.median(times) / batch, cache_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", choices=list(PRESETS),
                        help="repeatable; default: retinanet_light and retinanet_r50_fpn")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per mode (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="fp32,bf16", help="comma list of fp32, bf16")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    precisions = [p for p in args.precision.split(",") if p == "fp32" or bf16_supported(torch.device("cpu"))]
    presets = args.preset or ["retinanet_light", "retinanet_r50_fpn"]
    print(f"torch {torch.__version__}, {args.threads} threads, {args.size} px, batch {args.batch}, "
          f"{args.steps} timed steps per mode; bf16 supported: {bf16_supported(torch.device('cpu'))}; "
          f"load average before: {os.getloadavg()[0]:.2f} (other processes on the CPU slow every figure)")
    with tempfile.TemporaryDirectory() as tmp:
        samples = make_samples(Path(tmp), (args.steps + 1) * args.batch, args.size)
        for preset in presets:
            for precision in precisions:
                report(preset, precision, samples, args)
    return 0


def report(preset: str, precision: str, samples: list[Sample], args: argparse.Namespace) -> None:
    results = {}
    for mode in MODES:
        results[mode] = bench_mode(preset, mode, samples, args.size, args.batch, args.steps, precision == "bf16")
        per_image, cache_s = results[mode]
        extra = f"   (cache, once: {cache_s:.3f} s/image)" if cache_s is not None else ""
        print(f"{preset:<20} {precision:<5} {mode:<12} {per_image:8.3f} s/image{extra}", flush=True)
    uncached, cached = results["heads"][0], results["heads+cache"][0]
    print(f"{preset:<20} {precision:<5} cached features speed-up for heads-only: {uncached / cached:.1f}x "
          f"per epoch after the first", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
