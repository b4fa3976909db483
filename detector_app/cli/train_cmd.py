"""``detector-app train`` (fine-tune on the reviewed labels, with a progress bar) and ``detector-app eval``.

Ctrl-C once stops training after the current step and keeps the last epoch checkpoint
(``--resume RUN`` continues it); a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from detector_app.cli.project_arg import add_project_argument, open_project
from detector_app.core.names import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tune a model on the project's reviewed labels")
    add_project_argument(p)
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 10; with --resume: the run's)")
    p.add_argument("--freeze", choices=("heads", "fpn", "all"), default=None,
                   help="what trains: heads only (default when fine-tuning), heads + FPN, or all "
                        "(default from scratch)")
    p.add_argument("--size", type=int, default=None,
                   help="input size (long side, pixels; default: the parent version's, else the preset's)")
    p.add_argument("--val-share", type=float, default=0.2, help="share of reviewed images kept for validation")
    p.add_argument("--preset", default=None, help="model preset for a new model (with --parent scratch)")
    p.add_argument("--parent", default=None,
                   help="start from: a version id, 'scratch', a preset (COCO weights) or a .pth file "
                        "(default: the active version, else a new light model)")
    p.add_argument("--classes", default=None, help="comma-separated classes (default: all with reviewed boxes)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: on where the CPU or GPU has native bf16)")
    p.add_argument("--no-cache", action="store_true", help="heads-only: do not cache backbone features")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="name of the new model version")
    p.add_argument("--activate", action="store_true", help="make the new version the active one")
    p.add_argument("--resume", type=int, default=None, metavar="RUN", help="continue training run RUN")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser("eval", help="COCO mAP of a model version on its validation images")
    add_project_argument(e)
    e.add_argument("--version", type=int, default=None, help="version id (default: the active version)")
    e.add_argument("--size", type=int, default=None)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=run_eval)


def settings_from_args(args: argparse.Namespace) -> Any:
    from detector_app.training.settings import TrainSettings

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
    from detector_app.training import resume, train
    from detector_app.training.report import comparison_rows, format_table

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
            if args.activate and result.version_id is not None:
                project.repo.activate_model_version(result.version_id)
            version = project.repo.get_model_version(result.version_id)
            print(f"model version {printable(version.name)} (id {version.id}) saved to {printable(version.weights_path)}"
                  f"{' and activated' if args.activate else ''}")
            print(printable(format_table(comparison_rows(result.before, result.after, version.class_names)),
                            multiline=True))
        return 0
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)


def run_eval(args: argparse.Namespace) -> int:
    from detector_app.training import evaluate_version
    from detector_app.training.report import format_result

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
        from tqdm import tqdm

        from detector_app.training.settings import EpochDone, PhaseChanged, RunStarted, StepDone

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
        from tqdm import tqdm

        if self._bar is not None:
            tqdm.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
