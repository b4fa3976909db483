"""``detector-app train`` (fine-tune on the reviewed labels, with a progress bar) and ``detector-app eval``.

Ctrl-C once stops training after the current step and keeps the last epoch checkpoint
(``--resume RUN`` continues it); a second Ctrl-C aborts at once. The arguments are registered in
:mod:`detector_app.cli.train_cmd`; this module loads torch and the training code.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from tqdm import tqdm

from detector_app.cli.activate_run import describe
from detector_app.cli.project_arg import open_project
from detector_app.core.names import printable
from detector_app.training import evaluate_version, resume, train
from detector_app.training.events import EpochDone, PhaseChanged, RunStarted, StepDone
from detector_app.training.report import comparison_rows, format_result, format_table
from detector_app.training.settings import TrainSettings
from detector_app.training.version_scores import activate_checked


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    parent: int | str | None = args.parent
    if isinstance(parent, str) and parent.isdigit():
        parent = int(parent)
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None
    return TrainSettings(epochs=args.epochs or 10, size=args.size, freeze=args.freeze, val_share=args.val_share,
                         preset=args.preset,
                         parent=parent, classes=classes, batch_size=args.batch_size, lr=args.lr, bf16=args.bf16,
                         cache_features=not args.no_cache, device=args.device, seed=args.seed,
                         threads=args.threads, name=args.name)


def run_train(args: argparse.Namespace) -> int:
    cancel = threading.Event()
    bar = _ProgressBar()
    previous = signal.signal(signal.SIGINT, _first_interrupt_cancels(cancel))
    try:
        with open_project(args.project, create=False) as project:
            if args.resume is not None:
                result = resume(project, args.resume, progress=bar.on_event, cancel=cancel,
                                epochs=args.epochs)
            else:
                result = train(project, settings_from_args(args), progress=bar.on_event, cancel=cancel)
            if result.status == "cancelled":
                print(f"cancelled after {result.epochs_done} epoch(s); checkpoint: {result.checkpoint}; "
                      f"continue with: detector-app train --resume {result.run_id}")
                return 1
            check = None
            if args.activate and result.version_id is not None:  # flagged, not activated, when below the active
                check = activate_checked(project, result.version_id, device=args.device)
            version = project.repo.get_model_version(result.version_id)
            print(f"model version {printable(version.name)} (id {version.id}) saved to {printable(version.weights_path)}"
                  f"{' and activated' if version.is_active else ''}")
            if check is not None:
                print(printable(describe(project, check, version.id, forced=False)))
            print(printable(format_table(comparison_rows(result.before, result.after, version.class_names)),
                            multiline=True))
        return 0
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)


def run_eval(args: argparse.Namespace) -> int:
    with open_project(args.project, create=False) as project:
        result = evaluate_version(project, args.version, size=args.size, device=args.device)
        record = (project.repo.get_model_version(args.version) if args.version
                  else project.repo.active_model_version())
        print(printable(f"model version {record.name} on {result.images} images"))
        print(printable(format_result(result, record.class_names), multiline=True))
    return 0


def _first_interrupt_cancels(cancel: threading.Event) -> Any:
    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping after this step (Ctrl-C again to abort)...", flush=True)
    return handler


_SHORT = {"classification": "cls", "bbox_regression": "box"}


class _ProgressBar:
    """A tqdm bar over all steps of the run, with the loss parts and an epoch summary line."""

    def __init__(self) -> None:
        self._bar: Any = None

    def on_event(self, event: Any) -> None:
        if isinstance(event, RunStarted):
            print(f"run {event.run_id}: {event.train_images} training / {event.val_images} validation images, "
                  f"classes: {', '.join(printable(n) for n in event.class_names)}")
            total = event.epochs * event.steps_per_epoch
            self._bar = tqdm(total=total, initial=event.start_epoch * event.steps_per_epoch, unit="step",
                             dynamic_ncols=True)
        elif isinstance(event, PhaseChanged):
            self._write(event.text)
        elif isinstance(event, StepDone) and self._bar is not None:
            self._bar.set_description(f"epoch {event.epoch + 1}")
            self._bar.set_postfix({**{_SHORT.get(k, k): f"{v:.3f}" for k, v in event.losses.items()},
                                   "img/s": f"{event.images_per_s:.1f}"}, refresh=False)
            self._bar.update(1)
        elif isinstance(event, EpochDone):
            val = f", val mAP {event.val_map:.3f}, AP50 {event.val_ap50:.3f}" if event.val_map is not None else ""
            self._write(f"epoch {event.epoch + 1}: loss {event.loss:.4f}{val}")

    def _write(self, text: str) -> None:
        if self._bar is not None:
            tqdm.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
