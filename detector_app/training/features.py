"""The loss of one batch: from images (backbone + FPN + heads) or from cached FPN features (heads only).

Both follow ``RetinaNet.forward`` in training mode, split so that the heads can run on features
computed once. With the backbone and FPN frozen, their output for an image never changes, so the
heads-only mode computes it once per image and reuses it every epoch.

Augmentation and caching conflict: a scale jitter or a colour change gives new features. The cache
therefore holds two variants per image, as is and mirrored, and each epoch draws one at random:
horizontal flip stays, scale and photometric jitter are off in this mode (the heads see the exact
features they will see at inference, which is what a short fine-tune of the heads needs).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.image_list import ImageList

from detector_app.training.data import DetectionDataset, collate
from detector_app.training.model_setup import autocast

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]


def to_image_list(model: RetinaNet, images: Sequence[torch.Tensor]) -> ImageList:
    """Normalise and pad already-sized images the way the model's own transform would."""
    normed = [model.transform.normalize(img) for img in images]
    sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
    return ImageList(model.transform.batch_images(normed, size_divisible=32), sizes)


def backbone_features(model: RetinaNet, image_list: ImageList) -> list[torch.Tensor]:
    return list(model.backbone(image_list.tensors).values())


def heads_loss(model: RetinaNet, image_list: ImageList, features: list[torch.Tensor],
               targets: list[dict[str, torch.Tensor]], bf16: bool) -> dict[str, torch.Tensor]:
    device = features[0].device
    with autocast(device, bf16):
        outputs = model.head(features)
    # The focal loss runs in float32: bf16 logits lose the small probabilities it weighs.
    outputs = {k: v.float() for k, v in outputs.items()}
    anchors = model.anchor_generator(image_list, [f.float() for f in features])
    return model.compute_loss(targets, outputs, anchors)


def batch_loss(model: RetinaNet, batch: Batch, device: torch.device, bf16: bool) -> dict[str, torch.Tensor]:
    """Full forward from images (used when the backbone or FPN trains, or caching is off)."""
    images, targets = batch
    image_list = to_image_list(model, [img.to(device, non_blocking=True) for img in images])
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
    with autocast(device, bf16):
        features = backbone_features(model, image_list)
    return heads_loss(model, image_list, features, targets, bf16)


class FeatureCache:
    """FPN features of each training image and of its mirror, in memory up to a budget, then on disk.

    Stored as float16 (half the memory; the heads train in float32 on them).
    """

    def __init__(self, memory_budget_bytes: int = 1 << 30, spill_dir: Path | None = None) -> None:
        self.memory_budget = memory_budget_bytes
        self._spill_dir = spill_dir
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._memory: dict[tuple[int, int], list[torch.Tensor]] = {}
        self._disk: dict[tuple[int, int], Path] = {}
        self._targets: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}
        self._used = 0
        self.count = 0

    @torch.no_grad()
    def build(self, model: RetinaNet, dataset: DetectionDataset, device: torch.device, bf16: bool,
              should_stop: Callable[[], bool] = lambda: False,
              on_image: Callable[[int, int], None] | None = None) -> bool:
        """Fill the cache from ``dataset`` (its transform must not augment). False when stopped early."""
        model.backbone.eval()
        for i in range(len(dataset)):
            if should_stop():
                return False
            image, target = dataset[i]
            width = image.shape[-1]
            flipped = {"boxes": target["boxes"][:, [2, 1, 0, 3]] * torch.tensor([-1.0, 1, -1, 1]) +
                       torch.tensor([width, 0.0, width, 0]), "labels": target["labels"]}
            for variant, (img, tgt) in enumerate(((image, target), (image.flip(-1), flipped))):
                image_list = to_image_list(model, [img.to(device)])
                with autocast(device, bf16):
                    feats = backbone_features(model, image_list)
                self._put((i, variant), [f[0].to(torch.float16).cpu() for f in feats], tgt,
                          image_list.image_sizes[0])
            self.count = i + 1
            if on_image is not None:
                on_image(i + 1, len(dataset))
        return True

    def _put(self, key: tuple[int, int], feats: list[torch.Tensor], target: dict[str, torch.Tensor],
             size: tuple[int, int]) -> None:
        nbytes = sum(f.numel() * f.element_size() for f in feats)
        if self._used + nbytes <= self.memory_budget:
            self._memory[key] = feats
            self._used += nbytes
        else:
            path = self._spill_path() / f"{key[0]}_{key[1]}.pt"
            torch.save(feats, path)
            self._disk[key] = path
        self._targets[key] = target
        self._sizes[key] = size

    def _spill_path(self) -> Path:
        if self._spill_dir is None:
            self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="detector-features-")
            self._spill_dir = Path(self._tmp.name)
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        return self._spill_dir

    @property
    def on_disk(self) -> int:
        return len(self._disk)

    def close(self) -> None:
        self._memory.clear()
        for path in self._disk.values():
            path.unlink(missing_ok=True)
        self._disk.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _features(self, key: tuple[int, int]) -> list[torch.Tensor]:
        if key in self._memory:
            return self._memory[key]
        return torch.load(self._disk[key], weights_only=True)

    def epoch_batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[list[tuple[int, int]]]:
        """Shuffled batches of keys; each image appears once, mirrored or not at random."""
        order = rng.permutation(self.count)
        flips = rng.integers(0, 2, size=self.count)
        keys = [(int(i), int(flips[i])) for i in order]
        for start in range(0, len(keys), batch_size):
            yield keys[start:start + batch_size]

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.count / batch_size)

    def loss(self, model: RetinaNet, keys: list[tuple[int, int]], device: torch.device,
             bf16: bool) -> dict[str, torch.Tensor]:
        per_image = [self._features(k) for k in keys]
        levels = [_stack_padded([feats[lvl] for feats in per_image]).to(device).float()
                  for lvl in range(len(per_image[0]))]
        sizes = [self._sizes[k] for k in keys]
        height = max(math.ceil(h / 32) * 32 for h, _ in sizes)
        width = max(math.ceil(w / 32) * 32 for _, w in sizes)
        # The anchor generator reads only the padded batch shape from the tensor: no memory needed.
        placeholder = torch.zeros((), device=device).expand(len(keys), 3, height, width)
        targets = [{k: v.to(device) for k, v in self._targets[key].items()} for key in keys]
        return heads_loss(model, ImageList(placeholder, sizes), levels, targets, bf16)


def _stack_padded(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack (C, h, w) maps, zero-padding right/bottom to the largest (images are padded that way)."""
    h = max(t.shape[-2] for t in tensors)
    w = max(t.shape[-1] for t in tensors)
    return torch.stack([F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2])) for t in tensors])


def index_batches(count: int, batch_size: int, rng: np.random.Generator) -> Iterator[list[tuple[int, int]]]:
    """Shuffled batches of ``(sample index, augmentation seed)``: the one order and the one augmentation per
    sample that every process of a distributed run agrees on (each then loads only its share)."""
    order = rng.permutation(count)
    seeds = rng.integers(0, 2**62, size=count)
    for start in range(0, count, batch_size):
        yield [(int(i), int(seeds[i])) for i in order[start:start + batch_size]]


def load_batch(dataset: DetectionDataset, items: Sequence[tuple[int, int]]) -> Batch:
    return collate([dataset.item(i, seed) for i, seed in items])


def image_batches(dataset: DetectionDataset, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
    """Shuffled batches loaded in this process (a 2-core machine gains nothing from loader workers)."""
    for items in index_batches(len(dataset), batch_size, rng):
        yield load_batch(dataset, items)
