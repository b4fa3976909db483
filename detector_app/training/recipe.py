"""The default training recipe's choices that depend on the data: epochs, anchor sizes, and its summary.

Measured in ``benchmarks/bench_learning.py`` (issue 18, figures in the README): on 128-image sets a new model
needs about 20 passes over the set from scratch and a fine-tune about 8; anchors that start at the smallest
boxes rather than at torchvision's 32 px let objects of 24 px train on the finest pyramid level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from detector_app.detection.presets import AnchorSizes, anchor_sizes_from
from detector_app.training.data import Sample
from detector_app.training.settings import TrainSettings

# Images seen by a run of the default length, and the bounds of its epochs.
SCRATCH_IMAGES, FINE_TUNE_IMAGES = 2500, 1000
EPOCH_BOUNDS = (4, 40)
SMALLEST_ANCHOR = (8, 32)  # px: the fitted P3 anchor stays within these (32 is torchvision's)
# What a time budget counts (loop.fit): wall seconds. bench_learning.py counts the process's CPU seconds
# instead, so that a run on a machine shared with other work gets the budget an idle machine would give it.
budget_clock: Callable[[], float] = time.perf_counter


def auto_epochs(train_images: int, from_scratch: bool) -> int:
    """Epochs for a run of ``train_images`` when the user gives none: a fixed number of images seen, so a small
    set gets more passes and a large set fewer (within ``EPOCH_BOUNDS``)."""
    seen = SCRATCH_IMAGES if from_scratch else FINE_TUNE_IMAGES
    return int(min(EPOCH_BOUNDS[1], max(EPOCH_BOUNDS[0], round(seen / max(1, train_images)))))


def budget_epochs(epochs: int, done: int, seconds: float, minutes: float | None) -> int:
    """The run's epochs after ``done`` of them took ``seconds`` in all: as many more as fit in what is left of
    ``minutes`` at the run's mean pace so far, never more than ``epochs``. Measured again after every epoch (the
    machine may be shared); the mean, not the last epoch's time, so that one epoch slowed by other work does
    not cut the run for good (a run only ever gets shorter: its schedule is fitted to the new length)."""
    if minutes is None:
        return epochs
    more = math.floor((minutes * 60 - seconds) / max(seconds / max(done, 1), 1e-3))
    return max(done, min(epochs, done + more))


def box_sides(samples: Sequence[Sample], size: int) -> np.ndarray:
    """sqrt(w * h) of every training box at the input size (the long side scaled to ``size``)."""
    sides = [np.sqrt(np.clip(s.boxes[:, 2] - s.boxes[:, 0], 0, None) * np.clip(s.boxes[:, 3] - s.boxes[:, 1], 0, None))
             * size / max(s.width, s.height, 1) for s in samples if len(s.boxes)]
    return np.concatenate(sides) if sides else np.zeros(0)


def fit_anchor_sizes(samples: Sequence[Sample], size: int) -> AnchorSizes | None:
    """Anchors whose P3 size is the power of two at or below the 5th percentile of the box sides (within
    ``SMALLEST_ANCHOR``); None (torchvision's) when that is 32 px anyway or there are no boxes."""
    sides = box_sides(samples, size)
    if sides.size == 0:
        return None
    smallest = 2 ** math.floor(math.log2(max(1.0, float(np.percentile(sides, 5)))))
    smallest = min(SMALLEST_ANCHOR[1], max(SMALLEST_ANCHOR[0], smallest))
    return None if smallest == SMALLEST_ANCHOR[1] else anchor_sizes_from(smallest)


def schedule_summary(settings: TrainSettings, train_images: int, from_scratch: bool,
                     anchors: AnchorSizes | None = None) -> str:
    """One paragraph for the Train dialog: what the run will do, before it starts."""
    epochs = settings.epochs or auto_epochs(train_images, from_scratch)
    steps = epochs * math.ceil(max(1, train_images) / settings.batch_size)
    warmup = max(0, min(settings.warmup_steps, steps // 4))
    chosen = "" if settings.epochs else " (chosen from the set size)"
    augment = [f"scale jitter ±{settings.scale_jitter:.0%}", "horizontal flip"]
    if settings.photometric:
        augment.append("brightness/contrast/saturation")
    if settings.mosaic > 0:
        augment.append(f"mosaic of 4 random crops on {settings.mosaic:.0%} of images")
    if settings.freeze == "heads" and settings.cache_features:
        augment = ["horizontal flip only (heads train on cached features)"]
    if anchors is not None:
        anchor_text = f"anchors {anchors[0][0]:g}-{anchors[-1][-1]:g} px (fitted to the boxes)"
    elif from_scratch and settings.fit_anchors:
        anchor_text = "anchors fitted to the boxes when the run starts"
    else:
        anchor_text = "anchors of the start model" if not from_scratch else "anchors 32-406 px (torchvision's)"
    best = "the epoch with the best validation mAP" if settings.keep_best else "the last epoch"
    budget = (f" At most {settings.minutes:g} min: the run is shortened after each epoch to end in time."
              if settings.minutes else "")
    return (f"{epochs} epochs{chosen}, {steps} steps of {settings.batch_size} images; warm-up {warmup} steps, "
            f"then cosine decay. Augmentation: {', '.join(augment)}. {anchor_text[0].upper()}{anchor_text[1:]}. "
            f"Keeps {best}.{budget}")
