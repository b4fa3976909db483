"""Small detection sets unlike the tests' own, for ``bench_learning.py``: real footage behind generated objects.

The tests learn circles, squares and triangles on noise, gradients and stripes at 96 px. These sets use 320x240
crops of the real photographs and videos in ``../shared/data`` as backgrounds, objects of 24-90 px, other
shapes and other counts, so a recipe tuned to the tests' set is not rewarded for it:

``photo-shapes``: COCO photo crops with 1-4 filled discs, squares and triangles (the issue's independent set).
``video-marks``: street and road video frames with 2-6 rings, crosses and bars (bars are 1:3 to 3:1, so boxes
are not all square), drawn at 70-100% opacity.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from tests.synthetic_shapes import SyntheticImage, SyntheticSet, _contrasting_colour, _draw_shape, _photo_crop

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SIZE = (320, 240)  # width, height
OBJECT_PX = (24, 90)
Box = tuple[int, int, int, int]


@functools.cache
def photo_backgrounds(data: Path = DATA) -> list[np.ndarray]:
    """Every COCO-tiny photo (BGR)."""
    photos = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted((data / "coco-tiny" / "images").glob("*.jpg"))]
    return [p for p in photos if p is not None]


@functools.cache
def video_backgrounds(data: Path = DATA, per_video: int = 24) -> list[np.ndarray]:
    """``per_video`` frames spread over each video of ``data/video`` (read once per process: seeking is slow)."""
    frames = []
    for path in sorted((data / "video").glob("*.*")):
        if path.suffix not in (".avi", ".mp4"):
            continue
        cap = cv2.VideoCapture(str(path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in np.linspace(0, max(0, total - 2), per_video).astype(int):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = cap.read()
            if ok:
                frames.append(frame)
        cap.release()
    return frames


def _free_rect(rng: np.random.Generator, w: int, h: int, taken: list[Box]) -> Box | None:
    for _ in range(50):
        x, y = int(rng.integers(0, SIZE[0] - w + 1)), int(rng.integers(0, SIZE[1] - h + 1))
        box = (x, y, x + w, y + h)
        if all(box[0] >= t[2] + 2 or t[0] >= box[2] + 2 or box[1] >= t[3] + 2 or t[1] >= box[3] + 2 for t in taken):
            return box
    return None


def _square_side(rng: np.random.Generator) -> int:
    # Log-uniform: as many small objects as large ones, the small ones are what the default anchors miss.
    return int(round(math.exp(rng.uniform(math.log(OBJECT_PX[0]), math.log(OBJECT_PX[1])))))


def _draw_mark(image: np.ndarray, kind: str, box: Box, colour: tuple[int, int, int], alpha: float) -> None:
    x1, y1, x2, y2 = box
    layer = image.copy()
    w, h = x2 - x1, y2 - y1
    thick = max(3, min(w, h) // 5)
    if kind == "ring":
        # Full axes w - thick: the stroke adds thick / 2 on each side, so the outer edge spans the box.
        cv2.ellipse(layer, (((x1 + x2 - 1) / 2, (y1 + y2 - 1) / 2), (w - thick, h - thick), 0), colour, thick)
    elif kind == "cross":
        cv2.rectangle(layer, (x1 + w // 2 - thick // 2, y1), (x1 + w // 2 + thick // 2, y2 - 1), colour, -1)
        cv2.rectangle(layer, (x1, y1 + h // 2 - thick // 2), (x2 - 1, y1 + h // 2 + thick // 2), colour, -1)
    elif kind == "bar":
        cv2.rectangle(layer, (x1, y1), (x2 - 1, y2 - 1), colour, -1)
    else:
        _draw_shape(layer, kind, box, colour)
    image[y1:y2, x1:x2] = cv2.addWeighted(layer[y1:y2, x1:x2], alpha, image[y1:y2, x1:x2], 1 - alpha, 0)


def _photo_shapes(rng: np.random.Generator, backgrounds: Sequence[np.ndarray]) -> SyntheticImage:
    image = _photo_crop(rng, backgrounds[int(rng.integers(len(backgrounds)))], *SIZE)
    boxes: list[Box] = []
    labels = []
    for _ in range(int(rng.integers(1, 5))):
        side = _square_side(rng)
        box = _free_rect(rng, side, side, boxes)
        if box is None:
            break
        kind = ("circle", "square", "triangle")[int(rng.integers(3))]
        _draw_shape(image, kind, box, _contrasting_colour(rng, image, box))
        boxes.append(box)
        labels.append({"circle": "disc"}.get(kind, kind))
    return SyntheticImage(image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4), tuple(labels))


def _video_marks(rng: np.random.Generator, backgrounds: Sequence[np.ndarray]) -> SyntheticImage:
    frame = backgrounds[int(rng.integers(len(backgrounds)))]
    scale = rng.uniform(0.45, 0.9)  # the frames are 768 px wide: shrink, then crop
    image = _photo_crop(rng, cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), *SIZE)
    boxes: list[Box] = []
    labels = []
    for _ in range(int(rng.integers(2, 7))):
        kind = ("ring", "cross", "bar")[int(rng.integers(3))]
        side = _square_side(rng)
        if kind == "bar":
            ratio = math.exp(rng.uniform(math.log(1 / 3), math.log(3)))
            w, h = max(8, int(side * math.sqrt(ratio))), max(8, int(side / math.sqrt(ratio)))
            w, h = min(w, SIZE[0] - 4), min(h, SIZE[1] - 4)
        else:
            w = h = side
        box = _free_rect(rng, w, h, boxes)
        if box is None:
            continue
        _draw_mark(image, kind, box, _contrasting_colour(rng, image, box), float(rng.uniform(0.7, 1.0)))
        boxes.append(box)
        labels.append(kind)
    return SyntheticImage(image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4), tuple(labels))


KINDS: dict[str, tuple[Callable[[], list[np.ndarray]], Callable[..., SyntheticImage], tuple[str, ...]]] = {
    "photo-shapes": (photo_backgrounds, _photo_shapes, ("disc", "square", "triangle")),
    "video-marks": (video_backgrounds, _video_marks, ("ring", "cross", "bar")),
}


def make_set(kind: str, count: int, seed: int, out_dir: Path) -> SyntheticSet:
    """``count`` images of ``kind`` written as PNG under ``out_dir`` (same seed, same set)."""
    load, draw, classes = KINDS[kind]
    backgrounds = load()
    if not backgrounds:
        raise SystemExit(f"no backgrounds for {kind} under {DATA}: the shared data folder is missing")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = []
    for index in range(count):
        item = draw(rng, backgrounds)
        path = out_dir / f"{kind}_{seed}_{index:04d}.png"
        cv2.imwrite(str(path), item.image)
        images.append(SyntheticImage(item.image, item.boxes, item.labels, path.resolve()))
    return SyntheticSet(images, classes)
