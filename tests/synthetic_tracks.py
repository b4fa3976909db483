"""Generated tracking sequences with exact ground truth, and the measures that score a tracker on them.

Textured shapes (the classes of :mod:`tests.synthetic_shapes`) move over frames of a real video: they turn
a little each frame, bounce off the edges, two of them cross (the later drawn hides the other), and a
post in front hides whoever passes behind it. Ground truth per frame: each object's full box and id
while at least ``MIN_VISIBLE`` of its pixels show. Used by tests/test_tracking_*.py and
benchmarks/bench_tracking.py.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import motmetrics as mm
import numpy as np
from scipy.optimize import linear_sum_assignment

from detector_app.core.detections import Detections
from detector_app.tracking import OverlayPredictor, Tracked
from detector_app.tracking.geometry import iou_matrix

from . import peers
from .synthetic_shapes import SHAPES, _draw_shape

MIN_VISIBLE = 0.2  # share of an object's pixels that must show for it to count in the ground truth
CLASS_NAMES = ("__background__", *SHAPES)  # as a detector trained on the shapes names them


@dataclass(frozen=True)
class TrackSequence:
    frames: list[np.ndarray]  # BGR uint8
    boxes: list[np.ndarray]  # per frame (K, 4) float32 xyxy of the objects that show
    ids: list[np.ndarray]  # per frame (K,) object ids (1-based)
    labels: list[np.ndarray]  # per frame (K,) class indices into CLASS_NAMES
    visible: list[np.ndarray]  # per frame (K,) share of each object's pixels that show
    fps: float


def video_backgrounds(path: Path, count: int, size: tuple[int, int] = (320, 240), start: int = 0) -> list[np.ndarray]:
    """``count`` consecutive frames of ``path`` from ``start``, resized to ``size`` (looping at the end)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open {path}")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or count
    cap.set(cv2.CAP_PROP_POS_FRAMES, start % total)
    frames: list[np.ndarray] = []
    while len(frames) < count:
        ok, image = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = cap.read()
            if not ok:
                raise ValueError(f"cannot decode {path}")
        frames.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    cap.release()
    return frames


@dataclass
class _Mover:
    kind: int  # index into SHAPES
    side: int
    pos: np.ndarray  # top-left, float
    vel: np.ndarray  # pixels per frame
    texture: np.ndarray  # side x side x 3
    mask: np.ndarray  # side x side bool


def make_track_sequence(backgrounds: Sequence[np.ndarray], objects: int = 5, seed: int = 0,
                        side: tuple[int, int] = (30, 46), speed: tuple[float, float] = (1.5, 3.5),
                        post: bool = True, fps: float = 25.0) -> TrackSequence:
    """One frame per background; objects 1 and 2 start on opposite sides and cross head on."""
    rng = np.random.default_rng(seed)
    h, w = backgrounds[0].shape[:2]
    movers = [_mover(rng, i, w, h, side, speed) for i in range(objects)]
    post_x = (int(w * 0.62), int(w * 0.62) + 16)
    seq = TrackSequence([], [], [], [], [], fps)
    for background in backgrounds:
        frame, owner = background.copy(), np.full((h, w), -1, np.int32)
        for i, m in enumerate(movers):
            x, y = int(round(m.pos[0])), int(round(m.pos[1]))
            region = frame[y:y + m.side, x:x + m.side]
            region[m.mask] = m.texture[m.mask]
            owner[y:y + m.side, x:x + m.side][m.mask] = i
        if post:
            frame[:, post_x[0]:post_x[1]] = (90, 90, 96) + (rng.normal(0, 6, (h, post_x[1] - post_x[0], 1)))
            owner[:, post_x[0]:post_x[1]] = -1
        counts = np.bincount(owner[owner >= 0].ravel(), minlength=objects)
        shown = counts / np.array([m.mask.sum() for m in movers])
        keep = np.flatnonzero(shown >= MIN_VISIBLE)
        seq.frames.append(frame)
        seq.boxes.append(np.array([_box(movers[i]) for i in keep], np.float32).reshape(-1, 4))
        seq.ids.append(keep + 1)
        seq.labels.append(np.array([movers[i].kind + 1 for i in keep], np.int64))
        seq.visible.append(shown[keep])
        for m in movers:
            _step(rng, m, w, h)
    return seq


def _mover(rng: np.random.Generator, i: int, w: int, h: int, side: tuple[int, int],
           speed: tuple[float, float]) -> _Mover:
    s = int(rng.integers(side[0], side[1] + 1))
    v = float(rng.uniform(*speed))
    if i < 2:  # the pair that crosses: same height, facing each other
        pos = np.array([10.0 if i == 0 else w - s - 10.0, h / 2 - s / 2 + (0 if i == 0 else 4)])
        vel = np.array([v if i == 0 else -v, 0.0])
    else:
        pos = np.array([rng.uniform(0, w - s), rng.uniform(0, h - s)])
        angle = rng.uniform(0, 2 * math.pi)
        vel = v * np.array([math.cos(angle), math.sin(angle)])
    canvas = np.zeros((s, s, 3), np.uint8)
    kind = i % len(SHAPES)
    _draw_shape(canvas, SHAPES[kind], (0, 0, s, s), (255, 255, 255))
    # Saturated colour with stripes that move with the object: the texture optical flow needs.
    colour = np.array(cv2.cvtColor(np.uint8([[[int(rng.integers(0, 180)), 230, 230]]]), cv2.COLOR_HSV2BGR)[0, 0], float)
    yy, xx = np.mgrid[0:s, 0:s]
    angle = rng.uniform(0, math.pi)
    stripes = 25 * np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / 3.0)
    texture = np.clip(colour + stripes[..., None] + rng.normal(0, 8, (s, s, 1)), 0, 255).astype(np.uint8)
    return _Mover(kind, s, pos, vel, texture, canvas[..., 0] > 0)


def _step(rng: np.random.Generator, m: _Mover, w: int, h: int) -> None:
    turn = rng.normal(0, 0.03)
    c, s = math.cos(turn), math.sin(turn)
    m.vel = np.array([c * m.vel[0] - s * m.vel[1], s * m.vel[0] + c * m.vel[1]])
    m.pos = m.pos + m.vel
    for axis, limit in ((0, w - m.side), (1, h - m.side)):
        if m.pos[axis] < 0 or m.pos[axis] > limit:
            m.vel[axis] = -m.vel[axis]
            m.pos[axis] = float(np.clip(m.pos[axis], 0, limit))


def _box(m: _Mover) -> tuple[float, float, float, float]:
    x, y = int(round(m.pos[0])), int(round(m.pos[1]))
    return (x, y, x + m.side, y + m.side)


def noisy_detections(seq: TrackSequence, seed: int = 0, drop: float = 0.1, jitter: float = 0.04,
                     false_positives: float = 0.05) -> list[Detections]:
    """The true boxes with each corner moved by ``jitter`` x side (sd), ``drop`` of them missing and a
    box on nothing in ``false_positives`` of the frames: a stand-in detector that isolates the tracker."""
    rng = np.random.default_rng(seed)
    h, w = seq.frames[0].shape[:2]
    out = []
    for boxes, labels in zip(seq.boxes, seq.labels, strict=True):
        keep = rng.random(len(boxes)) >= drop
        b, lab = boxes[keep].copy(), labels[keep]
        sides = (b[:, 2:3] - b[:, 0:1])
        b += rng.normal(0, jitter, b.shape) * sides
        scores = rng.uniform(0.55, 0.95, len(b))
        if rng.random() < false_positives:
            x, y, s = rng.uniform(0, w - 40), rng.uniform(0, h - 40), rng.uniform(20, 40)
            b, lab = np.vstack([b, [[x, y, x + s, y + s]]]), np.append(lab, 1)
            scores = np.append(scores, rng.uniform(0.3, 0.6))
        out.append(Detections(b, scores, lab, CLASS_NAMES))
    return out


def mot_scores(seq: TrackSequence, tracked: Sequence[Tracked]) -> dict[str, float]:
    """MOTA, IDF1 and friends from motmetrics (a match needs IoU >= 0.5), plus HOTA from TrackEval when the peer
    venv is built (``make test`` builds it; TrackEval's wheel requires the non-headless opencv-python)."""
    acc = mm.MOTAccumulator(auto_id=True)
    for gt_boxes, gt_ids, result in zip(seq.boxes, seq.ids, tracked, strict=True):
        hyp = result.confirmed()
        iou = iou_matrix(gt_boxes, hyp.detections.boxes)
        acc.update(gt_ids.tolist(), hyp.track_ids.tolist(), np.where(iou >= 0.5, 1 - iou, np.nan))
    names = ["mota", "idf1", "num_switches", "precision", "recall", "num_false_positives", "num_misses"]
    row = mm.metrics.create().compute(acc, metrics=names, name="seq").iloc[0]
    scores = {k: float(row[k]) for k in names}
    hota = hota_score(seq, tracked)
    if hota is not None:
        scores["hota"] = hota
    return scores


def hota_score(seq: TrackSequence, tracked: Sequence[Tracked]) -> float | None:
    """TrackEval's HOTA (mean over its IoU thresholds), computed in the peer venv (tests/peer_readers/hota.py:
    TrackEval requires the non-headless opencv-python); None when the peer venv has not been built."""
    if not peers.PEER_VENV.exists():
        return None
    hyps = [t.confirmed() for t in tracked]
    gt_map = {int(i): n for n, i in enumerate(sorted({int(i) for ids in seq.ids for i in ids}))}
    tr_map = {int(i): n for n, i in enumerate(sorted({int(i) for h in hyps for i in h.track_ids}))}
    data = {
        "gt_ids": [[gt_map[int(i)] for i in ids] for ids in seq.ids],
        "tracker_ids": [[tr_map[int(i)] for i in h.track_ids] for h in hyps],
        "similarity_scores": [iou_matrix(b, h.detections.boxes).tolist() for b, h in zip(seq.boxes, hyps, strict=True)],
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sequence.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return float(peers.run_reader("hota.py", path)["hota"])


def track_all(detections: Sequence[Detections], update: Callable[[Detections], Tracked]) -> list[Tracked]:
    return [update(d) for d in detections]


def matched_iou(truth: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Each true box's IoU with the drawn box paired to it (one-to-one, best total; 0 when unpaired)."""
    out = np.zeros(len(truth))
    if len(truth) and len(drawn):
        iou = iou_matrix(truth, drawn)
        rows, cols = linear_sum_assignment(-iou)
        out[rows] = iou[rows, cols]
    return out


def live_overlay_iou(seq: TrackSequence, detect: Callable[[int], Detections], predictor: OverlayPredictor,
                     every: int = 13, latency: int = 12) -> float:
    """Mean IoU between the boxes drawn on each displayed frame and the truth on that frame.

    A simulated live view: every frame is displayed; the detector takes frame k, its result arrives
    ``latency`` frames later, and then it takes the newest frame, so results come every ``every`` frames.
    Frames before the first result are not scored (nothing can be drawn yet).
    """
    ious: list[np.ndarray] = []
    busy_with, ready_at = 0, latency
    for k, frame in enumerate(seq.frames):
        predictor.add_frame(frame, k / seq.fps)
        if k == ready_at:
            predictor.add_detections(detect(busy_with), busy_with / seq.fps)
            busy_with, ready_at = k + every - latency, k + every
        if predictor.detection_time is not None:
            drawn = np.array([b.box for b in predictor.boxes()], np.float32).reshape(-1, 4)
            ious.append(matched_iou(seq.boxes[k], drawn))
    return float(np.concatenate(ious).mean()) if ious else 0.0
