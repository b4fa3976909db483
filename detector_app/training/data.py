"""Training data: which boxes are targets, the train/validation split, loading and augmentation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from detector_app.core.images import UnusableImageError, check_image, decode_image
from detector_app.core.labels import BACKGROUND, Split, counts_as_label
from detector_app.errors import SourceError, TrainingError
from detector_app.sources.video_frames import VideoFrames


@dataclass(frozen=True)
class Sample:
    """One reviewed image and its target boxes: (N, 4) float32 xyxy in original pixels."""

    image_id: int
    path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: tuple[str, ...]
    split: str | None = None  # the user's split (train, val, test), None when they chose none
    frame: tuple[Path, int] | None = None  # (video, index): where the pixels are when ``path`` is gone


def target_boxes(annotations: Iterable[Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """The boxes of ``annotations`` (``AnnotationRecord``-like) that count as labels, as xyxy."""
    boxes, labels = [], []
    for ann in annotations:
        x, y, w, h = ann.bbox
        if counts_as_label(ann.status, ann.origin) and w > 0 and h > 0:
            boxes.append((x, y, x + w, y + h))
            labels.append(ann.category_name)
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), tuple(labels)


def build_samples(images: Iterable[Any], annotations: Mapping[int, Sequence[Any]]) -> list[Sample]:
    """Samples for reviewed ``images`` (``ImageRecord``-like); one with no target left is a negative."""
    samples = []
    for image in images:
        boxes, labels = target_boxes(annotations.get(image.id, ()))
        frame = ((Path(image.video_path), int(image.frame_index))
                 if image.video_path is not None and image.frame_index is not None else None)
        samples.append(Sample(image.id, Path(image.path), int(image.width), int(image.height), boxes, labels,
                              image.split, frame))
    return sorted(samples, key=lambda s: s.image_id)


def split_ids(image_ids: Sequence[int], val_share: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic train/validation split of ``image_ids`` (order of the input does not matter)."""
    ids = sorted(int(i) for i in image_ids)
    if val_share <= 0 or len(ids) < 2:
        return ids, []
    n_val = min(len(ids) - 1, max(1, round(len(ids) * val_share)))
    order = np.random.default_rng(seed).permutation(len(ids))
    val = sorted(ids[i] for i in order[:n_val])
    val_set = set(val)
    return [i for i in ids if i not in val_set], val


def split_samples(samples: Sequence[Sample], val_share: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Train and validation samples, the user's split first: ``train`` images are trained on, ``val`` images
    only validated on (never trained on), ``test`` images held out of both. Images without a split go to
    train when the user named any validation image, else they are split as before (``split_ids``)."""
    chosen = {s.split for s in samples}
    free = [s for s in samples if s.split is None]
    if Split.VAL in chosen:
        free_train, free_val = free, []
    else:
        train_ids, val_ids = split_ids([s.image_id for s in free], val_share, seed)
        free_train, free_val = _pick(free, train_ids), _pick(free, val_ids)
    train = free_train + [s for s in samples if s.split == Split.TRAIN]
    val = free_val + [s for s in samples if s.split == Split.VAL]
    return sorted(train, key=lambda s: s.image_id), sorted(val, key=lambda s: s.image_id)


def _pick(samples: Sequence[Sample], ids: Sequence[int]) -> list[Sample]:
    wanted = set(ids)
    return [s for s in samples if s.image_id in wanted]


def class_counts(samples: Iterable[Sample]) -> Counter[str]:
    return Counter(name for s in samples for name in s.labels)


def resolve_classes(train: Sequence[Sample], requested: Sequence[str] | None,
                    parent_classes: Sequence[str] = ()) -> tuple[str, ...]:
    """The real classes to train (background excluded), checked to have training examples.

    Default: every class with a target box, the parent's classes first in their order so that a
    fine-tuned model keeps their indices.
    """
    if not train:
        raise TrainingError("no reviewed images to train on: review some images (accept, correct or draw boxes) first")
    counts = class_counts(train)
    if not counts:
        raise TrainingError(
            "the training set has no boxes: every reviewed image is empty or its boxes were rejected; "
            "accept, correct or draw some boxes first")
    if requested is None:
        known = [c for c in parent_classes if c in counts and c != BACKGROUND]
        return tuple(known + sorted(c for c in counts if c not in known))
    classes = tuple(dict.fromkeys(c for c in requested if c != BACKGROUND))
    if not classes:
        raise TrainingError("the class list is empty: choose at least one class to train")
    missing = [c for c in classes if counts[c] == 0]
    if missing:
        have = ", ".join(f"{c} ({n})" for c, n in counts.most_common()) or "none"
        raise TrainingError(
            f"no training examples for class{'es' if len(missing) > 1 else ''} {', '.join(missing)}: "
            f"draw or accept some boxes of it, or leave it out (classes with boxes: {have})")
    return classes


def check_files(samples: Iterable[Sample]) -> None:
    """Refuse, before training starts, a set with missing files or files the image rule refuses (too thin,
    too large, damaged, unsupported pixels): one line naming how many and the first one. A frame whose file is
    gone needs its video instead (decoding errors surface when the frame is read)."""
    on_disk, missing = [], []
    for sample in samples:
        if sample.path.is_file():
            on_disk.append(sample)
        elif sample.frame is None or not sample.frame[0].is_file():
            missing.append(sample)
    if missing:
        first = missing[0]
        where = f"{first.path}" if first.frame is None else f"{first.path} (its video {first.frame[0]} too)"
        raise TrainingError(
            f"{len(missing)} image file(s) of the training set are missing, e.g. {where} (image {first.image_id})")
    unusable: list[tuple[Sample, str]] = []
    for sample in on_disk:
        try:
            check_image(sample.path)
        except UnusableImageError as exc:
            unusable.append((sample, exc.reason))
    if unusable:
        first, reason = unusable[0]
        raise TrainingError(
            f"{len(unusable)} image(s) of the training set cannot be used, e.g. {first.path} (image {first.image_id}): "
            f"{reason}; remove them from the project or replace the files")


def load_sample(sample: Sample, frames: VideoFrames) -> torch.Tensor:
    """The sample's pixels: its file, or when that is gone (a video task's frame is never written), its frame
    decoded from its video (the rule of ``sources/video_frames.py``)."""
    if sample.frame is None or sample.path.is_file():
        return load_image(sample.path)
    video, index = sample.frame
    try:
        bgr = frames.frame(video, index)
    except SourceError as exc:
        raise TrainingError(f"cannot read image {sample.image_id} (frame {index} of {video}): {exc}") from None
    return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).contiguous()


def load_image(path: Path) -> torch.Tensor:
    """RGB uint8 (3, H, W), decoded by the same rule and decoder as detection and import."""
    try:
        bgr = decode_image(path)
    except UnusableImageError as exc:
        raise TrainingError(f"cannot read image {path}: {exc.reason}") from None
    return torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).contiguous()


def make_transform(size: int, scale_jitter: float = 0.0, flip: bool = False, photometric: bool = False) -> v2.Compose:
    """Fit the image in ``size`` x ``size`` (long side = size, times a random jitter) and augment.

    Resizing here, not in the model's transform, is what lets the scale jitter survive: the engine
    feeds the model already-sized tensors.
    """
    ops: list[Any] = [v2.ScaleJitter((size, size), scale_range=(1 - scale_jitter, 1 + scale_jitter))]
    if flip:
        ops.append(v2.RandomHorizontalFlip(0.5))
    if photometric:
        # No hue jitter: it costs ~100 ms per image on a CPU, more than a training step at 128 px.
        ops.append(v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2))
    ops += [v2.SanitizeBoundingBoxes(min_size=1.0), v2.ToDtype(torch.float32, scale=True)]
    return v2.Compose(ops)


class DetectionDataset(torch.utils.data.Dataset):
    """``(image float (3, h, w) in [0, 1], {"boxes": (N, 4) xyxy, "labels": (N,)})`` per sample.

    Labels index ``("__background__", *classes)``; boxes of other classes are dropped.
    """

    def __init__(self, samples: Sequence[Sample], classes: Sequence[str], transform: v2.Compose,
                 mosaic: float = 0.0) -> None:
        self.samples = list(samples)
        self.index = {name: i + 1 for i, name in enumerate(classes)}
        self.transform = transform
        self.mosaic = mosaic  # share of items made by ``mosaic`` (a small set seen in more contexts)
        self.frames = VideoFrames()  # a video task's frames, decoded from their videos

    def __len__(self) -> int:
        return len(self.samples)

    def target(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        keep = [i for i, name in enumerate(sample.labels) if name in self.index]
        labels = np.asarray([self.index[sample.labels[i]] for i in keep], dtype=np.int64)
        return sample.boxes[keep].reshape(-1, 4), labels

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.samples[i]
        if self.mosaic > 0 and len(self.samples) > 1 and float(torch.rand(())) < self.mosaic:
            image, boxes, labels = mosaic(self, i)
        else:
            image = load_sample(sample, self.frames)
            boxes, labels = self.target(sample)
        target = {
            "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(boxes), format="XYXY",
                                              canvas_size=tuple(image.shape[-2:])),
            "labels": torch.from_numpy(labels),
        }
        image, target = self.transform(tv_tensors.Image(image), target)
        return image.as_subclass(torch.Tensor), {
            "boxes": target["boxes"].as_subclass(torch.Tensor).float(),
            "labels": target["labels"],
        }

    def item(self, i: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sample ``i`` with its augmentation drawn from ``seed``: the same draws whichever process loads it
        (the v2 transforms draw from torch's global generator, restored afterwards)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self[i]


def mosaic(dataset: DetectionDataset, i: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Image ``i``'s canvas cut in four at a random point, each part a random crop (at the same scale) of image
    ``i`` or of three other random images, with their boxes: a small set's objects in more contexts and
    positions per step. A box less than 40% inside its part is dropped (the sliver left is too little to name).
    Random draws come from torch's generator, as the v2 transforms' (``DetectionDataset.item`` seeds it)."""
    first = load_sample(dataset.samples[i], dataset.frames)
    height, width = first.shape[-2:]
    cx = int(width * (0.3 + 0.4 * float(torch.rand(()))))
    cy = int(height * (0.3 + 0.4 * float(torch.rand(()))))
    others = torch.randint(len(dataset.samples), (3,)).tolist()
    canvas = torch.zeros_like(first)
    all_boxes, all_labels = [], []
    parts = ((0, 0, cx, cy), (cx, 0, width, cy), (0, cy, cx, height), (cx, cy, width, height))
    for (x1, y1, x2, y2), index in zip(parts, [i, *others], strict=True):
        w, h = x2 - x1, y2 - y1
        if w < 1 or h < 1:
            continue
        sample = dataset.samples[index]
        image = first if index == i else load_sample(sample, dataset.frames)
        boxes, labels = dataset.target(sample)
        scale = max(w / image.shape[-1], h / image.shape[-2], 1.0)  # a smaller image is enlarged to cover
        if scale > 1.0:
            size = (math.ceil(image.shape[-2] * scale), math.ceil(image.shape[-1] * scale))
            image = v2.functional.resize(image, list(size), antialias=True)
            boxes = boxes * scale
        sx = int(torch.randint(image.shape[-1] - w + 1, ()))
        sy = int(torch.randint(image.shape[-2] - h + 1, ()))
        canvas[:, y1:y2, x1:x2] = image[:, sy:sy + h, sx:sx + w]
        moved = boxes - np.array([sx - x1, sy - y1, sx - x1, sy - y1], dtype=np.float32)
        clipped = np.clip(moved, [x1, y1, x1, y1], [x2, y2, x2, y2]).astype(np.float32)
        area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
        keep = area(clipped) >= 0.4 * np.maximum(area(moved), 1e-6)
        all_boxes.append(clipped[keep])
        all_labels.append(labels[keep])
    return canvas, np.concatenate(all_boxes).reshape(-1, 4), np.concatenate(all_labels).astype(np.int64)


def collate(batch: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[list, list]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
