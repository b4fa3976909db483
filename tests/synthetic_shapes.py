"""Generated detection sets: filled shapes on textured backgrounds, with exact boxes.

Used by the training tests and benchmarks/bench_training.py: the ground truth is known to the pixel, the set is
reproducible from its seed, and a small model learns it on a CPU in minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
BACKGROUNDS: tuple[str, ...] = ("noise", "gradient", "stripes")
# A shape's colour differs from the background under it by at least this much (L2 in BGR), so
# every object is visible: the set tests learning, not guessing.
_MIN_CONTRAST = 70.0


@dataclass(frozen=True)
class SyntheticImage:
    """One generated image: ``boxes`` are (N, 4) float32 xyxy pixels, ``labels`` the shape names."""

    image: np.ndarray  # BGR uint8
    boxes: np.ndarray
    labels: tuple[str, ...]
    path: Path | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class SyntheticSet:
    images: list[SyntheticImage]
    class_names: tuple[str, ...]


def make_image(
    rng: np.random.Generator,
    size: tuple[int, int] = (256, 256),
    shapes: Sequence[str] = SHAPES,
    objects: tuple[int, int] = (1, 4),
    object_size: tuple[float, float] = (0.15, 0.4),
    photos: Sequence[np.ndarray] = (),
) -> SyntheticImage:
    """One image of ``size`` (width, height) with ``objects`` (min, max inclusive) shapes.

    ``object_size`` is the side of each shape as a fraction of the shorter image side. Shapes do
    not overlap, so every box is fully visible.
    """
    width, height = size
    image = _background(rng, width, height, photos)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[str] = []
    for _ in range(int(rng.integers(objects[0], objects[1] + 1))):
        box = _free_box(rng, width, height, object_size, boxes)
        if box is None:
            break
        kind = str(shapes[int(rng.integers(len(shapes)))])
        _draw_shape(image, kind, box, _contrasting_colour(rng, image, box))
        boxes.append(box)
        labels.append(kind)
    arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return SyntheticImage(image=image, boxes=arr, labels=tuple(labels))


def make_shapes_dataset(
    n_images: int,
    seed: int = 0,
    out_dir: Path | None = None,
    size: int | tuple[int, int] = 256,
    shapes: Sequence[str] = SHAPES,
    objects: tuple[int, int] = (1, 4),
    object_size: tuple[float, float] = (0.15, 0.4),
    background_photos: Sequence[Path] = (),
    negatives: float = 0.0,
) -> SyntheticSet:
    """``n_images`` generated images, identical for the same arguments.

    With ``out_dir`` each image is written as PNG (lossless, so boxes stay exact) and its path is
    set. ``background_photos`` adds random crops of real photos to the background kinds.
    ``negatives`` is the share of images with no object at all.
    """
    rng = np.random.default_rng(seed)
    photos = [_read_photo(p) for p in background_photos]
    wh = (size, size) if isinstance(size, int) else size
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    images = []
    for index in range(n_images):
        count = (0, 0) if rng.random() < negatives else objects
        item = make_image(rng, wh, shapes, count, object_size, photos)
        if out_dir is not None:
            path = out_dir / f"shapes_{seed}_{index:05d}.png"
            cv2.imwrite(str(path), item.image)
            item = SyntheticImage(item.image, item.boxes, item.labels, path.resolve())
        images.append(item)
    return SyntheticSet(images=images, class_names=tuple(shapes))


def store_in_project(repo: Any, dataset: SyntheticSet, mark_reviewed: bool = True) -> list[int]:
    """Add the written images of ``dataset`` and their boxes (human, accepted) to a project.

    ``repo`` is the project's ``Repository``. Returns the new image ids, in order.
    """
    ids = []
    for item in dataset.images:
        if item.path is None:
            raise ValueError("store_in_project needs a set written to disk (make_shapes_dataset(out_dir=...))")
        record = repo.add_image(item.path)
        image_id = int(getattr(record, "id", record))
        for (x1, y1, x2, y2), name in zip(item.boxes.tolist(), item.labels, strict=True):
            repo.add_annotation(image_id, name, (x1, y1, x2 - x1, y2 - y1), origin="human", status="accepted")
        if mark_reviewed:
            repo.mark_reviewed(image_id)
        ids.append(image_id)
    return ids


def _read_photo(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read background photo {path}")
    return image


def _background(rng: np.random.Generator, width: int, height: int, photos: Sequence[np.ndarray]) -> np.ndarray:
    kinds = list(BACKGROUNDS) + (["photo"] * len(BACKGROUNDS) if photos else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "photo":
        return _photo_crop(rng, photos[int(rng.integers(len(photos)))], width, height)
    if kind == "noise":
        base = rng.integers(0, 256, size=3).astype(np.float32)
        noise = rng.normal(0, 40, size=(max(2, height // 8), max(2, width // 8), 3)).astype(np.float32)
        noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        fine = rng.normal(0, 12, size=(height, width, 3)).astype(np.float32)
        return np.clip(base + noise + fine, 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    t = (xx * math.cos(angle) + yy * math.sin(angle)) / max(width, height)
    if kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * math.pi * rng.uniform(3, 12) * t)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    c0, c1 = rng.integers(0, 256, size=(2, 3)).astype(np.float32)
    return (c0 + (c1 - c0) * t[..., None]).astype(np.uint8)


def _photo_crop(rng: np.random.Generator, photo: np.ndarray, width: int, height: int) -> np.ndarray:
    ph, pw = photo.shape[:2]
    scale = max(width / pw, height / ph, 1.0)
    if scale > 1.0:
        photo = cv2.resize(photo, (math.ceil(pw * scale), math.ceil(ph * scale)))
        ph, pw = photo.shape[:2]
    y = int(rng.integers(0, ph - height + 1))
    x = int(rng.integers(0, pw - width + 1))
    return np.ascontiguousarray(photo[y:y + height, x:x + width])


def _free_box(
    rng: np.random.Generator,
    width: int,
    height: int,
    object_size: tuple[float, float],
    taken: list[tuple[int, int, int, int]],
) -> tuple[int, int, int, int] | None:
    """An integer square box inside the image that touches none of ``taken`` (None after 50 tries)."""
    short = min(width, height)
    for _ in range(50):
        side = max(4, int(round(rng.uniform(*object_size) * short)))
        if side >= min(width, height):
            continue
        x = int(rng.integers(0, width - side + 1))
        y = int(rng.integers(0, height - side + 1))
        box = (x, y, x + side, y + side)
        if all(box[0] >= t[2] + 2 or t[0] >= box[2] + 2 or box[1] >= t[3] + 2 or t[1] >= box[3] + 2
               for t in taken):
            return box
    return None


def _contrasting_colour(
    rng: np.random.Generator, image: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[int, int, int]:
    x1, y1, x2, y2 = box
    mean = image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
    colour = rng.integers(0, 256, size=3)
    for _ in range(20):
        if np.linalg.norm(colour - mean) >= _MIN_CONTRAST:
            break
        colour = rng.integers(0, 256, size=3)
    else:
        colour = np.where(mean > 127, 0, 255)
    return int(colour[0]), int(colour[1]), int(colour[2])


def _draw_shape(image: np.ndarray, kind: str, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """Fill ``kind`` so that its pixels span exactly ``box`` (x2, y2 exclusive)."""
    x1, y1, x2, y2 = box
    last_x, last_y = x2 - 1, y2 - 1
    if kind == "square":
        cv2.rectangle(image, (x1, y1), (last_x, last_y), colour, thickness=-1)
    elif kind == "circle":
        # A pixel mask rather than cv2.circle: its extent is exactly the box for any side length.
        radius = (x2 - x1) / 2
        yy, xx = np.ogrid[y1:y2, x1:x2]
        inside = (xx + 0.5 - (x1 + radius)) ** 2 + (yy + 0.5 - (y1 + radius)) ** 2 <= radius ** 2
        image[y1:y2, x1:x2][inside] = colour
    elif kind == "triangle":
        points = np.array([[(x1 + last_x) // 2, y1], [last_x, last_y], [x1, last_y]], dtype=np.int32)
        cv2.fillPoly(image, [points], colour)
    else:
        raise ValueError(f"unknown shape {kind!r}; choose from {', '.join(SHAPES)}")
