"""``detector-app train`` (fine-tune on the reviewed labels, with a progress bar) and ``detector-app eval``.

Ctrl-C once stops training after the current step and keeps the last epoch checkpoint
(``--resume RUN`` continues it); a second Ctrl-C aborts at once. The arguments are registered in
:mod:`detector_app.cli.train_cmd`; this module loads torch and the training code.

``--nproc-per-node N`` starts this same command in N processes through torchrun's launcher; in each of them
(torchrun sets RANK, WORLD_SIZE...) the run is a DistributedDataParallel one (``training.distributed``), in which
only rank 0 opens the project for writing, shows progress and registers the new version.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import IO, Any

from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from tqdm import tqdm

from detector_app.cli.activate_run import describe
from detector_app.cli.project_arg import TeamProject, open_project
from detector_app.cli.train_cmd import register
from detector_app.core.names import printable
from detector_app.errors import DetectorAppError, TrainingError
from detector_app.storage import Project
from detector_app.training import evaluate_version, resume, train
from detector_app.training.distributed import check_batch_size, launched_by_torchrun, process_group
from detector_app.training.events import (
    EpochDone,
    PhaseChanged,
    RunStarted,
    StepDone,
    TrainEvent,
    TrainResult,
)
from detector_app.training.report import comparison_rows, format_result, format_table
from detector_app.training.run import train_distributed
from detector_app.training.settings import TrainSettings
from detector_app.training.version_scores import activate_checked


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    parent: int | str | None = args.parent
    if isinstance(parent, str) and parent.isdigit():
        parent = int(parent)
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip()) if args.classes else None
    if not 0.0 <= args.scale_jitter < 1.0:
        raise TrainingError(f"--scale-jitter must be in [0, 1) (got {args.scale_jitter})")
    return TrainSettings(epochs=args.epochs, minutes=args.minutes, size=args.size, freeze=args.freeze,
                         val_share=args.val_share, preset=args.preset, mosaic=args.mosaic, keep_best=args.keep == "best",
                         fit_anchors=args.fit_anchors,
                         parent=parent, classes=classes, batch_size=args.batch_size, lr=args.lr, bf16=args.bf16,
                         cache_features=not args.no_cache, device=args.device, seed=args.seed,
                         threads=args.threads, name=args.name, scale_jitter=args.scale_jitter)


def run_train(args: argparse.Namespace) -> int:
    if launched_by_torchrun():  # one process of a torchrun run (--nproc-per-node, when given, was its launcher's)
        return _run_distributed(args)
    if args.nproc_per_node is not None:
        return _launch(args)
    cancel = threading.Event()
    bar = _ProgressBar(args.log_steps)
    previous = signal.signal(signal.SIGINT, _first_interrupt_cancels(cancel))
    try:
        with open_project(args.project, create=False) as project:
            if args.resume is not None:
                result = resume(project, args.resume, progress=bar.on_event, cancel=cancel,
                                epochs=args.epochs)
            else:
                result = train(project, settings_from_args(args), progress=bar.on_event, cancel=cancel)
            return _report(project, result, args)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)


def _report(project: Project, result: TrainResult, args: argparse.Namespace) -> int:
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


def _launch(args: argparse.Namespace) -> int:
    """This command again in ``--nproc-per-node`` processes on this machine, through torchrun's launcher."""
    if args.nproc_per_node < 1:
        raise TrainingError(f"--nproc-per-node must be at least 1 (got {args.nproc_per_node})")
    if args.resume is not None:
        raise TrainingError("--resume continues a run in one process: leave out --nproc-per-node")
    settings = settings_from_args(args)  # refuse bad settings here, once, not in every process
    check_batch_size(settings.batch_size, args.nproc_per_node)
    with open_project(args.project, create=False):  # so too a missing project (and migrate it before they start)
        pass
    try:
        torchrun.main(["--standalone", "--nproc-per-node", str(args.nproc_per_node), "-m", "detector_app", "train",
                       *command_line(args)])
    except ChildFailedError as exc:
        ranks = ", ".join(str(f.local_rank) for f in exc.failures.values())
        raise TrainingError(f"training stopped: process(es) {ranks} of {args.nproc_per_node} failed (their "
                            "error is printed above)") from None
    return 0


def _run_distributed(args: argparse.Namespace) -> int:
    """One process of a torchrun run: rank 0 opens the project as usual, the others read-only, after it."""
    if args.resume is not None:
        raise TrainingError("--resume continues a run in one process: run it without torchrun")
    settings = settings_from_args(args)
    cancel = threading.Event()
    with process_group(settings.device) as dist:
        check_batch_size(settings.batch_size, dist.world_size)
        bar = _ProgressBar(args.log_steps) if dist.is_main else None
        previous = signal.signal(signal.SIGINT, _first_interrupt_cancels(cancel)) if dist.is_main else None
        try:
            project = open_project(args.project, create=False) if dist.is_main else None
            dist.broadcast(None)  # a barrier: rank 0 has opened (and migrated) the project, the others may read it
            if project is None:
                project = _open_read_only(args.project)
            with project:
                result = train_distributed(project, settings, dist, bar.on_event if bar else None, cancel)
                return _report(project, result, args) if result is not None else 0
        finally:
            if bar is not None:
                bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def _open_read_only(path: Path | TeamProject | None) -> Project:
    if isinstance(path, TeamProject):
        return Project.open(path.url, create=False, read_only=True, media_root=path.media_root)
    return Project.open(path, create=False, read_only=True)


def command_line(args: argparse.Namespace) -> list[str]:
    """The ``train`` options of ``args`` as a command line (``--nproc-per-node`` left out), for torchrun to
    start each process with."""
    subparsers = argparse.ArgumentParser().add_subparsers()
    register(subparsers)
    out: list[str] = []
    for action in subparsers.choices["train"]._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest in ("help", "nproc_per_node") or value is None:
            continue
        flag = next(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse.BooleanOptionalAction):
            out.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(action, argparse._StoreTrueAction):
            out += [flag] if value else []
        else:
            out += [flag, value.url if isinstance(value, TeamProject) else str(value)]
    return out


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
    """A tqdm bar over all steps of the run, with the loss parts and an epoch summary line; with ``--log-steps``,
    each step's losses as a JSON line in that file."""

    def __init__(self, step_log: Path | None = None) -> None:
        self._bar: Any = None
        self._log: IO[str] | None = None
        if step_log is not None:
            try:
                self._log = step_log.open("w", encoding="utf-8")
            except OSError as exc:
                raise DetectorAppError(f"cannot write --log-steps {step_log}: {exc.strerror or exc}") from None

    def on_event(self, event: TrainEvent) -> None:
        if isinstance(event, StepDone) and self._log is not None:
            self._log.write(json.dumps({"epoch": event.epoch + 1, "step": event.step, "losses": event.losses}) + "\n")
            self._log.flush()
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
        if self._log is not None:
            self._log.close()
