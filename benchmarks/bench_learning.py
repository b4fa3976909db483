"""Validation AP50 / mAP against training seconds, per training recipe, on small sets the tests never see.

    nice -n 5 .venv/bin/python benchmarks/bench_learning.py [--minutes 15] [--quick] [--set KIND ...]
        [--recipe NAME ...] [--parallel N] [--threads 1]

Each set (``learning_sets.KINDS``: real photo or video crops with generated objects, 3 classes, 128 train /
32 validation images at 320x240) is stored in a fresh project and trained with each recipe through the app's
own ``train`` (what ``detector-app train`` runs), stopped at the time budget. Every epoch is evaluated on the
32 validation images; the table prints AP50 / mAP at each epoch against the seconds since the run started
(evaluation included, as in a real run). ``previous`` is the recipe before issue 18 (what ``train --epochs 15
--size 320`` did); ``default`` is today's defaults; the others leave out one choice of the default, to measure
it. Recipes of one set run side by side (``--parallel``, one thread each), so they share the same load:
compare them within a run, not across runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.learning_sets import KINDS, make_set  # noqa: E402
from detector_app.core.labels import Split  # noqa: E402
from detector_app.storage import Project  # noqa: E402
from detector_app.training import TrainSettings, train  # noqa: E402
from detector_app.training import recipe as recipe_module  # noqa: E402
from detector_app.training.events import EpochDone, TrainEvent  # noqa: E402
from tests.synthetic_shapes import SyntheticSet, store_in_project  # noqa: E402

TRAIN, VAL, SIZE = 128, 32, 320
BASE: dict[str, Any] = dict(parent="scratch", size=SIZE)
# Today's defaults given the run's budget as a time limit (``minutes``: the schedule is fitted to it).
NEW: dict[str, Any] = dict(BASE, minutes="budget")
# The defaults before issue 18, spelled out (the user's --epochs 15 of the issue).
PREVIOUS: dict[str, Any] = dict(BASE, preset="retinanet_light", epochs=15, fit_anchors=False, keep_best=False,
                                mosaic=0.0)
RECIPES: dict[str, dict[str, Any]] = {
    "previous": PREVIOUS,
    "default": NEW,
    "default+anchors": dict(NEW, fit_anchors=True),
    "default+mosaic": dict(NEW, mosaic=0.5),
    "default-old-preset": dict(NEW, preset="retinanet_light"),
    "default-no-budget": dict(BASE),
}


def store_set(project: Project, data: SyntheticSet, n_train: int) -> None:
    ids = store_in_project(project.repo, data)
    project.repo.set_split(ids[:n_train], Split.TRAIN)
    project.repo.set_split(ids[n_train:], Split.VAL)


def run_recipe(kind: str, recipe: str, settings: dict[str, Any], data: SyntheticSet, n_train: int,
               minutes: float, clock: str) -> dict[str, Any]:
    """Train ``settings`` on ``data`` in a new project until done or ``minutes`` on ``clock``; the epoch curve.

    ``clock`` "cpu" counts this process's CPU seconds (the run's budget, its time limit and the points), so
    that runs sharing a busy machine each get what one thread of an idle machine would give them.
    """
    seconds = time.process_time if clock == "cpu" else time.monotonic
    recipe_module.budget_clock = seconds
    if settings.get("minutes") == "budget":  # 95%: the last evaluation must end within the budget too
        settings["minutes"] = minutes * 0.95
    points: list[tuple[float, int, float, float]] = []
    cancel, done = threading.Event(), threading.Event()
    started, wall_started = seconds(), time.monotonic()

    def on_event(event: TrainEvent) -> None:
        if isinstance(event, EpochDone) and event.val_ap50 is not None:
            points.append((seconds() - started, event.epoch + 1, event.val_ap50, event.val_map or 0.0))

    def watch() -> None:
        while not done.wait(1.0):
            if seconds() - started >= minutes * 60:
                cancel.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with tempfile.TemporaryDirectory() as tmp, Project.open(Path(tmp) / "project") as project:
        store_set(project, data, n_train)
        result = train(project, TrainSettings(**settings), progress=on_event, cancel=cancel)
    done.set()
    return {"kind": kind, "recipe": recipe, "points": points, "status": result.status, "clock": clock,
            "seconds": seconds() - started, "wall": time.monotonic() - wall_started, "epochs": result.epochs_done,
            "after": result.after.to_dict() if result.after else None}


def report(run: dict[str, Any]) -> None:
    curve = "  ".join(f"{s:.0f}s e{e} {ap50:.3f}/{m:.3f}" for s, e, ap50, m in run["points"])
    best = max(run["points"], key=lambda p: p[3], default=None)
    head = (f"{run['kind']:<13} {run['recipe']:<20} {run['status']:<9} {run['epochs']:>3} epochs "
            f"{run['seconds']:5.0f} {run['clock']} s ({run['wall']:.0f} s wall)")
    if best is None:
        print(f"{head}  no epoch finished", flush=True)
        return
    last = run["points"][-1]
    per_class = run["after"]["per_class_ap50"] if run["after"] else {}
    classes = " ".join(f"{k} {v:.2f}" for k, v in per_class.items() if v is not None)
    print(f"{head}  last AP50 {last[2]:.3f} mAP {last[3]:.3f} | best mAP {best[3]:.3f} (AP50 {best[2]:.3f}, "
          f"epoch {best[1]}, {best[0]:.0f} s) | kept model: {classes or '-'}\n    AP50/mAP by epoch: {curve}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="time budget per run (default 15)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 16 train / 8 val images, 1 epoch at 128 px, 2 recipes")
    parser.add_argument("--set", action="append", choices=list(KINDS), help="repeatable; default: all")
    parser.add_argument("--recipe", action="append", choices=list(RECIPES),
                        help="repeatable; default: previous and default")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (default 2: a pair per set)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="what the budget and the seconds count: each run's CPU seconds (default: fair on a "
                             "shared machine, one thread each) or wall seconds (an idle machine)")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    n_train, n_val, size = (16, 8, 128) if args.quick else (TRAIN, VAL, SIZE)
    overrides: dict[str, Any] = {"threads": args.threads}
    if args.quick:
        overrides.update(size=size, epochs=1)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    kinds = args.set or list(KINDS)
    recipes = args.recipe or ["previous", "default"]
    print(f"{len(kinds)} set(s) x {len(recipes)} recipe(s), {n_train} train / {n_val} val images, {size} px, "
          f"budget {args.minutes:g} {args.clock} min per run, {args.parallel} at once with {args.threads} thread(s) each; "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sets = {kind: make_set(kind, n_train + n_val, args.seed, Path(tmp) / kind) for kind in kinds}
        jobs = [(kind, recipe) for kind in kinds for recipe in recipes]
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(args.parallel, mp_context=context) as pool:
            futures = [pool.submit(run_recipe, kind, recipe, {**RECIPES[recipe], **overrides}, sets[kind], n_train,
                                   args.minutes, args.clock)
                       for kind, recipe in jobs]
            for future in futures:
                report(future.result())
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
