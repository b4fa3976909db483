"""Active learning, measured: does correcting the uncertainty queue's images first need fewer corrections than
correcting images in random order to reach a target holdout mAP?

    nice -n 10 .venv/bin/python benchmarks/bench_active_learning.py [--quick] [--rounds N] [--k K] [--seed S]
        [--size PX] [--dataset shapes|photos|both] [--target MAP]

A small seed set is labelled and a light RetinaNet trained on it from scratch; that version is the starting model
of both arms (each arm works on its own copy of the project). Then, per round: the current version predicts on the
unlabelled pool (its proposals are stored as in the app; the previous version's stay, so the queue's disagreement
term can read them), ``k`` pool images are picked in the order under test, a simulated annotator corrects them to
the ground truth (``active_learning_sim``: the database gets exactly the ground-truth boxes, reviewed), the model
is fine-tuned from the current version on every reviewed image, and the new version is scored on the frozen holdout
(the project's test split: never picked, never trained on). The baseline is the random arm: same seeds, same
budget, same starting model, same training settings.

Printed per round: images corrected so far, holdout mAP@[.5:.95] and AP50, and the round's correction cost
(proposals accepted / adjusted / relabelled / rejected, boxes drawn, edits per image). Then, per arm, the corrections
needed to reach the target mAP: ``--target``, or by default the mAP 80% of the way from the seed model to the
weaker arm's final mAP (a level both arms reach, so the question is which gets there with fewer corrections).

Two sets: generated shapes on generated backgrounds, and the same shapes pasted on crops of the coco-tiny photos
(``../shared/data/coco-tiny``; skipped with a message when absent). Both arms train with the proven settings of
``tests/test_training_run_learning.py`` (light preset from scratch, AdamW, batch 4, one thread), at 96 px by default.

Read the cost columns first: while the model proposes nothing above the detector's threshold (no accepted, adjusted,
relabelled or rejected boxes), the queue scores every pool image as unseen (1.0) and orders them by id, so the
uncertainty arm is an arbitrary order too and a difference between the arms is training noise.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.active_learning_sim import ORDERS, Cost, Truth, correct_image, pick
from detector_app.core.labels import Status
from detector_app.detection.detector import Detector, DetectorConfig
from detector_app.storage import Project
from detector_app.training import EvalResult, TrainSettings, load_version, train
from detector_app.training.events import EpochDone
from detector_app.training.holdout import HOLDOUT_SPLIT, read_holdout
from tests import synthetic_shapes as shapes

COCO_TINY = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "coco-tiny"
TARGET_SHARE = 0.8  # default target: this share of the way from the seed model to the weaker arm's final mAP


@dataclass(frozen=True)
class Config:
    seed_images: int = 80
    pool: int = 100
    holdout: int = 40
    rounds: int = 4
    k: int = 10
    seed_epochs: int = 15
    round_epochs: int = 3
    size: int = 96
    seed: int = 0
    threads: int = 1


# Sized for the 2-core machine (about 15 CPU minutes a set). 96 px keeps the shapes 24-43 px wide, within reach of
# the 32 px anchors: at 64 px (16-29 px) the seed model proposed nothing above the threshold, so the queue had
# nothing to rank by (AP50 0.03). The seed model gets the most training since both arms share it.
FULL = Config()
QUICK = Config(seed_images=12, pool=16, holdout=8, rounds=2, k=4, seed_epochs=2, round_epochs=1, size=64)


@dataclass(frozen=True)
class Round:
    round: int
    corrected: int  # images corrected so far
    score: EvalResult
    cost: Cost  # of this round's corrections
    seconds: float


@dataclass
class Base:
    """The shared start of both arms: a closed project folder with the seed version trained."""

    folder: Path
    truth: dict[int, Truth]
    pool: list[int]
    holdout: list[int]
    seed_version: int
    seed_score: EvalResult
    rounds: dict[str, list[Round]] = field(default_factory=dict)


# --- data ------------------------------------------------------------------------------------------------


def photo_shapes(n: int, seed: int, out_dir: Path, size: int, photos: Sequence[Path]) -> shapes.SyntheticSet:
    """Shapes pasted on crops of real photos (every background a photo, scaled so its shorter side is twice
    ``size``: a crop shows a part of the scene, not a blur of pixels); same shapes and rules as the generated set."""
    rng = np.random.default_rng(seed)
    scenes = []
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        scale = 2 * size / min(image.shape[:2])
        scenes.append(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(n):
        image = shapes._photo_crop(rng, scenes[int(rng.integers(len(scenes)))], size, size)
        image = np.ascontiguousarray(image)
        boxes: list[tuple[int, int, int, int]] = []
        labels: list[str] = []
        for _ in range(int(rng.integers(2, 6))):
            box = shapes._free_box(rng, size, size, (0.25, 0.45), boxes)
            if box is None:
                break
            kind = shapes.SHAPES[int(rng.integers(len(shapes.SHAPES)))]
            shapes._draw_shape(image, kind, box, shapes._contrasting_colour(rng, image, box))
            boxes.append(box)
            labels.append(kind)
        path = out_dir / f"photo_shapes_{seed}_{index:05d}.png"
        cv2.imwrite(str(path), image)
        items.append(shapes.SyntheticImage(image, np.asarray(boxes, np.float32).reshape(-1, 4), tuple(labels),
                                           path.resolve()))
    return shapes.SyntheticSet(items, shapes.SHAPES)


def make_data(kind: str, n: int, seed: int, out_dir: Path, size: int) -> shapes.SyntheticSet:
    if kind == "shapes":
        return shapes.make_shapes_dataset(n, seed=seed, out_dir=out_dir, size=size, object_size=(0.25, 0.45),
                                          objects=(2, 5))
    return photo_shapes(n, seed, out_dir, size, sorted((COCO_TINY / "images").glob("*.jpg")))


# --- the loop ----------------------------------------------------------------------------------------------


def settings(cfg: Config, parent: int | str, epochs: int, seed: int) -> TrainSettings:
    """The learning test's proven settings; no validation split: every corrected image is trained on and the
    holdout scores each version."""
    return TrainSettings(parent=parent, preset="retinanet_light" if parent == "scratch" else None, freeze="all",
                         size=cfg.size, batch_size=4, optimizer="adamw", val_share=0.0, threads=cfg.threads,
                         epochs=epochs, seed=seed)


def build_base(folder: Path, data: shapes.SyntheticSet, cfg: Config) -> Base:
    """Seed images labelled, pool images added bare, holdout images labelled in the test split; the seed
    version trained from scratch."""
    with Project.open(folder) as project:
        repo = project.repo
        truth: dict[int, Truth] = {}
        roles: dict[str, list[int]] = {"seed": [], "pool": [], "holdout": []}
        for index, item in enumerate(data.images):
            role = ("seed" if index < cfg.seed_images else "pool" if index < cfg.seed_images + cfg.pool
                    else "holdout")
            image_id = repo.add_image(item.path).id
            truth[image_id] = Truth(item.boxes, item.labels)
            roles[role].append(image_id)
            if role != "pool":
                for (x1, y1, x2, y2), name in zip(item.boxes.tolist(), item.labels, strict=True):
                    repo.add_annotation(image_id, name, (x1, y1, x2 - x1, y2 - y1))
                repo.mark_reviewed(image_id)
        repo.set_split(roles["holdout"], str(HOLDOUT_SPLIT))
        assert read_holdout(repo).reviewed == cfg.holdout
        result = train(project, settings(cfg, "scratch", cfg.seed_epochs, cfg.seed), progress=_epoch_losses)
        assert result.version_id is not None and result.after is not None
    return Base(folder, truth, roles["pool"], roles["holdout"], result.version_id, result.after)


def _epoch_losses(event: object) -> None:
    if isinstance(event, EpochDone):
        print(f"  seed model epoch {event.epoch + 1}: loss {event.loss:.3f}", file=sys.stderr, flush=True)


def predict_pool(project: Project, version_id: int, pool: Sequence[int], size: int) -> int:
    """Store the version's proposals on every unreviewed pool image, as Detect all does; older versions'
    proposals beyond the previous one are dropped (superseded: the queue reads the two latest). Returns boxes."""
    repo = project.repo
    detector = Detector(load_version(project, version_id), DetectorConfig(size=size))
    waiting = sorted(set(repo.image_ids("unreviewed")) & set(pool))
    stored = 0
    for image_id in waiting:
        predicted = [a for a in repo.annotations_for_image(image_id) if a.status == Status.PREDICTED]
        versions = sorted({a.model_version_id for a in predicted if a.model_version_id is not None})
        for ann in predicted:
            if ann.model_version_id not in versions[-1:]:
                repo.delete_annotation(ann.id)
        detections = detector.predict(cv2.imread(str(repo.get_image(image_id).path)))
        if len(detections):
            stored += len(repo.add_predictions(image_id, detections, model_version_id=version_id))
    return stored


def run_arm(base: Base, folder: Path, order: str, cfg: Config,
            on_round: Callable[[Round], None] = lambda _r: None) -> list[Round]:
    """One arm on its own copy of the base project: ``cfg.rounds`` rounds of predict, pick, correct, fine-tune."""
    shutil.copytree(base.folder, folder)
    rng = random.Random(cfg.seed)  # the random order's draws; the uncertainty order does not use it
    rounds = [Round(0, 0, base.seed_score, Cost(), 0.0)]
    on_round(rounds[0])
    current, corrected = base.seed_version, 0
    with Project.open(folder) as project:
        for r in range(1, cfg.rounds + 1):
            started = time.monotonic()
            predict_pool(project, current, base.pool, cfg.size)
            chosen = pick(project.repo, order, base.pool, cfg.k, rng)
            cost = Cost()
            for image_id in chosen:
                cost += correct_image(project.repo, image_id, base.truth[image_id], current)
            corrected += len(chosen)
            result = train(project, settings(cfg, current, cfg.round_epochs, cfg.seed + r))
            assert result.version_id is not None and result.after is not None
            current = result.version_id
            rounds.append(Round(r, corrected, result.after, cost, time.monotonic() - started))
            on_round(rounds[-1])
    return rounds


# --- report -----------------------------------------------------------------------------------------------


HEADER = (f"{'set':<7} {'order':<11} {'round':>5} {'corrected':>9} {'mAP':>6} {'AP50':>6}   {'accept':>6} "
          f"{'adjust':>6} {'relab':>6} {'reject':>6} {'drawn':>6} {'edits/img':>9} {'s':>5}")


def format_round(name: str, order: str, r: Round) -> str:
    c = r.cost
    per_image = f"{c.edits / c.images:9.2f}" if c.images else f"{'-':>9}"
    return (f"{name:<7} {order:<11} {r.round:>5} {r.corrected:>9} {r.score.map:6.3f} {r.score.ap50:6.3f}   "
            f"{c.accepted:>6} {c.adjusted:>6} {c.relabelled:>6} {c.rejected:>6} {c.drawn:>6} {per_image} "
            f"{r.seconds:5.0f}")


def target_map(base: Base, explicit: float | None) -> float | None:
    """``explicit``, else ``TARGET_SHARE`` of the way from the seed model to the weaker arm's final mAP (to the
    stronger one's when the weaker did not improve; None when neither did: there is nothing to reach)."""
    if explicit is not None:
        return explicit
    finals = sorted(rounds[-1].score.map for rounds in base.rounds.values())
    gains = [f - base.seed_score.map for f in finals if f > base.seed_score.map]
    return base.seed_score.map + TARGET_SHARE * gains[0] if gains else None


def needed(rounds: Sequence[Round], target: float) -> tuple[int, Cost] | None:
    """(images corrected, their total cost) at the first round whose holdout mAP reaches ``target``."""
    total = Cost()
    for r in rounds:
        total += r.cost
        if r.score.map >= target:
            return r.corrected, total
    return None


def summary(name: str, base: Base, target: float | None) -> list[str]:
    if target is None:
        return [f"{name}: no arm improved on the seed model (mAP {base.seed_score.map:.3f}): no target, no verdict"]
    lines = [f"{name}: target holdout mAP {target:.3f} (seed model {base.seed_score.map:.3f})"]
    reached = {}
    for order, rounds in base.rounds.items():
        hit = needed(rounds, target)
        reached[order] = hit
        what = ("not reached" if hit is None else
                f"{hit[0]} images corrected ({hit[1].edits} box edits, {hit[1].accepted} accepts)")
        final = rounds[-1]
        lines.append(f"  {order:<11} {what}; after {final.corrected} images: mAP {final.score.map:.3f}, "
                     f"AP50 {final.score.ap50:.3f}")
    unc, rnd = reached.get("uncertainty"), reached.get("random")
    if unc is None and rnd is None:
        verdict = "neither order reached the target"
    elif unc is not None and (rnd is None or unc[0] < rnd[0]):
        verdict = "uncertainty order needed fewer corrections"
    elif unc is not None and rnd is not None and unc[0] == rnd[0]:
        verdict = "a tie: both orders needed the same number of corrections"
    else:
        verdict = "uncertainty order did NOT need fewer corrections than random"
    lines.append(f"  -> {verdict}")
    return lines


def run_set(name: str, cfg: Config, tmp: Path, explicit_target: float | None) -> list[str]:
    n = cfg.seed_images + cfg.pool + cfg.holdout
    started = time.monotonic()
    data = make_data(name, n, cfg.seed, tmp / name / "images", cfg.size)
    base = build_base(tmp / name / "base", data, cfg)
    print(f"{name}: {cfg.seed_images} seed + {cfg.pool} pool + {cfg.holdout} holdout images at {cfg.size} px; "
          f"seed model ({cfg.seed_epochs} epochs from scratch) in {time.monotonic() - started:.0f} s", flush=True)
    print(HEADER, flush=True)
    for order in ORDERS:
        base.rounds[order] = run_arm(base, tmp / name / order, order, cfg,
                                     lambda r, o=order: print(format_round(name, o, r), flush=True))
    return summary(name, base, target_map(base, explicit_target))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (a few minutes)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--k", type=int, help="images corrected per round")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--size", type=int, help="image and input size in pixels")
    parser.add_argument("--pool", type=int, help="unlabelled images to pick from")
    parser.add_argument("--round-epochs", type=int)
    parser.add_argument("--dataset", choices=("shapes", "photos", "both"), default="both")
    parser.add_argument("--target", type=float, help="target holdout mAP (default: see the module docstring)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    changes = {k: v for k, v in dict(rounds=args.rounds, k=args.k, seed=args.seed, size=args.size, pool=args.pool,
                                     round_epochs=args.round_epochs).items() if v is not None}
    cfg = replace(cfg, **changes)
    if cfg.k * cfg.rounds > cfg.pool:
        parser.error(f"{cfg.rounds} rounds of {cfg.k} need a pool of at least {cfg.k * cfg.rounds} images")
    torch.set_num_threads(cfg.threads)
    names = ["shapes", "photos"] if args.dataset == "both" else [args.dataset]
    if "photos" in names and not (COCO_TINY / "images").is_dir():
        print(f"photos: skipped, {COCO_TINY} is absent")
        names.remove("photos")
    print(f"torch {torch.__version__}, {cfg.threads} thread(s); {cfg.rounds} rounds of k={cfg.k}, "
          f"{cfg.round_epochs} fine-tuning epochs each; seed {cfg.seed}; load average before: "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench_al_") as tmp:
        for name in names:
            lines += run_set(name, cfg, Path(tmp), args.target)
    print("\n".join(lines))
    print(f"total {math.ceil(time.monotonic() - started)} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
