"""``train`` and ``resume``: a run on a project, from its database to a registered model version.

No Qt here: the CLI calls these directly, the GUI through ``background.TrainingRunner`` in a separate process.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from detector_app.errors import DetectorAppError, TrainingError
from detector_app.storage import Project
from detector_app.training.checkpoint import CHECKPOINT_NAME
from detector_app.training.evaluate import evaluate_model
from detector_app.training.events import (
    EvalResult,
    PhaseChanged,
    RunFinished,
    RunStarted,
    TrainResult,
)
from detector_app.training.loop import Emit, FitJob, FitOutcome, fit
from detector_app.training.model_setup import pick_device
from detector_app.training.plan import RunPlan, plan_resume, plan_run, run_dir
from detector_app.training.settings import TrainSettings
from detector_app.training.versions import register_version

if TYPE_CHECKING:
    from detector_app.training.distributed import Distributed


def train(project: Project, settings: TrainSettings, progress: Emit | None = None,
          cancel: threading.Event | Any | None = None) -> TrainResult:
    """Train on the project's reviewed images and register the result as a new model version.

    Every check (data, classes, parent model) happens before the first step and raises
    ``TrainingError``. ``cancel`` (a threading or multiprocessing Event) is checked before each step;
    a cancelled run keeps its last epoch checkpoint and registers no version.
    """
    with _threads(settings.threads):
        plan = plan_run(project, settings)
        record = project.repo.add_training_run(_run_settings(plan), status="running")
        plan.run_id = record.id
        return _execute(project, plan, progress, cancel)


def train_distributed(project: Project, settings: TrainSettings, dist: Distributed, progress: Emit | None = None,
                      cancel: threading.Event | Any | None = None) -> TrainResult | None:
    """One process of a torchrun run of ``train``: every process trains its share of each batch, only rank 0
    writes (the run's row, its checkpoints, the new version) and returns the result; the others return None."""
    with _threads(settings.threads):
        plan = plan_run(project, settings)  # every process reads the same reviewed labels, split by the seed
        seen = dist.gather((plan.split(), plan.class_names))
        if any(other != seen[0] for other in seen):
            raise TrainingError("the processes of the run found different reviewed labels (they changed while "
                                "the run started); start it again")
        run_id = project.repo.add_training_run(_run_settings(plan), status="running").id if dist.is_main else None
        plan.run_id = dist.broadcast(run_id)
        if dist.is_main:
            return _execute(project, plan, progress, cancel, dist=dist)
        fit(_fit_job(plan, run_dir(project, plan.run_id) / CHECKPOINT_NAME), None, cancel, dist)
        return None


def resume(project: Project, run_id: int, progress: Emit | None = None,
           cancel: threading.Event | Any | None = None, epochs: int | None = None) -> TrainResult:
    """Continue a cancelled or interrupted run from its last checkpoint (optionally to more epochs)."""
    try:
        record = project.repo.get_training_run(run_id)
    except DetectorAppError as exc:
        raise TrainingError(f"cannot resume: {exc}") from None
    plan = plan_resume(project, run_id, epochs)
    before = record.metrics.get("before")
    project.repo.update_training_run(run_id, status="running", append_log=f"resumed at epoch {plan.start_epoch}\n")
    with _threads(plan.settings.threads):
        return _execute(project, plan, progress, cancel, EvalResult.from_dict(before) if before else None)


def _execute(project: Project, plan: RunPlan, progress: Emit | None, cancel: Any,
             before: EvalResult | None = None, dist: Distributed | None = None) -> TrainResult:
    emit = progress or (lambda _e: None)
    cancel = cancel or threading.Event()
    assert plan.run_id is not None
    folder = run_dir(project, plan.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "split.json").write_text(json.dumps(plan.split()))
    job = _fit_job(plan, folder / CHECKPOINT_NAME)
    emit(RunStarted(plan.run_id, folder, plan.class_names[1:], len(plan.train), len(plan.val),
                    plan.settings.epochs, -(-len(plan.train) // plan.settings.batch_size), plan.start_epoch))
    try:
        if before is None and plan.resume_state is None:
            before = _evaluate_parent(plan, emit, cancel)
            project.repo.update_training_run(plan.run_id, metrics=_metrics(before, None, []))
        outcome = fit(job, emit, cancel, dist)
    except BaseException as exc:
        why = str(exc) if isinstance(exc, TrainingError) else f"crashed: {exc!r}"
        project.repo.update_training_run(plan.run_id, status="failed", append_log=f"{why}\n", finished=True)
        raise
    result = (_cancelled(project, plan, outcome, folder, before) if outcome.cancelled
              else _finish(project, plan, outcome, folder, before, _evaluate_after(plan, outcome, emit)))
    emit(RunFinished(result))
    return result


def _fit_job(plan: RunPlan, checkpoint: Path) -> FitJob:
    # A resumed run's parent is its checkpoint; whether it began from scratch is in there too.
    scratch = bool(plan.resume_state.get("from_scratch")) if plan.resume_state else plan.parent.from_scratch
    return FitJob(
        model=plan.model, preset=plan.parent.preset, class_names=plan.class_names, settings=plan.settings,
        train=plan.train, val=plan.val, from_scratch=scratch, checkpoint_path=checkpoint,
        extra_state={"split": plan.split(), "run_id": plan.run_id, "parent_version_id": plan.parent.version_id,
                     "from_scratch": scratch},
        start_epoch=plan.start_epoch, resume=plan.resume_state, history=plan.history)


def _evaluate_parent(plan: RunPlan, emit: Emit, cancel: Any) -> EvalResult | None:
    """The parent's scores on the holdout (else, when the project has none, on the validation split): the
    "before" column (None from scratch)."""
    samples, where = _scored_on(plan)
    if plan.parent.model is None or not samples:
        return None
    emit(PhaseChanged("evaluate", f"Evaluating the parent model on {len(samples)} {where} images"))
    device = pick_device(plan.settings.device)
    model = plan.parent.model.to(device)
    try:
        return evaluate_model(model, plan.parent.class_names, samples, plan.class_names[1:], plan.settings.size,
                              device, should_stop=cancel.is_set)
    finally:
        plan.parent.model.cpu()


def _scored_on(plan: RunPlan) -> tuple[list[Any], str]:
    """Before and after are scored on the frozen holdout when the project has one; else (as before the holdout
    existed) on the run's validation images."""
    return (plan.holdout, "holdout") if plan.holdout else (plan.val, "validation")


def _evaluate_after(plan: RunPlan, outcome: FitOutcome, emit: Emit) -> EvalResult | None:
    """The new model on the holdout; without one, the last epoch's validation scores."""
    if not plan.holdout:
        return outcome.last_eval
    emit(PhaseChanged("evaluate", f"Evaluating the new model on {len(plan.holdout)} holdout images"))
    device = pick_device(plan.settings.device)
    try:
        return evaluate_model(plan.model.to(device), plan.class_names, plan.holdout, plan.class_names[1:],
                              plan.settings.size, device)
    finally:
        plan.model.cpu()


def _cancelled(project: Project, plan: RunPlan, outcome: FitOutcome, folder: Path,
               before: EvalResult | None) -> TrainResult:
    assert plan.run_id is not None
    project.repo.update_training_run(
        plan.run_id, status="cancelled", finished=True,
        append_log=f"cancelled after {outcome.epochs_done} epoch(s); checkpoint: {outcome.checkpoint}\n")
    return TrainResult("cancelled", plan.run_id, folder, outcome.checkpoint, outcome.epochs_done,
                       before=before, history=outcome.history)


def _finish(project: Project, plan: RunPlan, outcome: FitOutcome, folder: Path,
            before: EvalResult | None, after: EvalResult | None) -> TrainResult:
    assert plan.run_id is not None
    metrics = {**_metrics(before, after, outcome.history), "scored_on": _scored_on(plan)[1],
               "holdout_ids": [s.image_id for s in plan.holdout],
               "kept_epoch": outcome.kept_epoch or outcome.epochs_done}
    version = register_version(
        project, plan.model.cpu(), preset=plan.parent.preset, class_names=plan.class_names,
        parent_id=plan.parent.version_id, settings={**plan.settings.to_dict(), "run_id": plan.run_id},
        metrics=metrics, name=plan.settings.name)
    project.repo.update_training_run(plan.run_id, status="finished", metrics=metrics, model_version_id=version.id,
                                     finished=True, append_log=f"registered model version {version.name} (weights of epoch "
                                     f"{metrics['kept_epoch']})\n")
    return TrainResult("finished", plan.run_id, folder, outcome.checkpoint, outcome.epochs_done, version.id,
                       Path(version.weights_path) if version.weights_path else None, before, after,
                       outcome.history)


def _metrics(before: EvalResult | None, after: EvalResult | None, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"before": before.to_dict() if before else None, "after": after.to_dict() if after else None,
            "history": history}


def _run_settings(plan: RunPlan) -> dict[str, Any]:
    return {**plan.settings.to_dict(), "preset": plan.parent.preset, "parent_label": plan.parent.label,
            "parent_version_id": plan.parent.version_id, "split": plan.split()}


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """PyTorch's CPU thread count for the run, restored afterwards (it is process-wide)."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
