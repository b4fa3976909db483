"""The training loop, plain as in torchvision's references/detection, independent of the database.

``train_one_epoch`` is one pass over a run's batches: loss, backward, clip, step. ``fit`` prepares a
model and its samples, then trains epoch by epoch, evaluates on the validation samples and writes a
checkpoint after each epoch. Both check ``cancel`` before every step.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torchvision.models.detection import RetinaNet

from detector_app.detection.presets import PRESETS, model_anchor_sizes
from detector_app.errors import TrainingError
from detector_app.training import recipe
from detector_app.training.checkpoint import save_checkpoint
from detector_app.training.data import DetectionDataset, Sample, make_transform
from detector_app.training.evaluate import evaluate_model
from detector_app.training.events import EpochDone, EvalResult, PhaseChanged, StepDone, TrainEvent
from detector_app.training.features import FeatureCache, batch_loss, index_batches, load_batch
from detector_app.training.model_setup import apply_freeze, pick_device, set_train_mode, use_bf16
from detector_app.training.optimizer import default_lr, make_optimizer, make_schedule
from detector_app.training.settings import TrainSettings

if TYPE_CHECKING:
    from detector_app.training.distributed import Distributed

Emit = Callable[[TrainEvent], None]
# The loss of one batch: ``features.batch_loss`` from images, or ``FeatureCache.loss`` from cached features.
LossFn = Callable[[RetinaNet, Any, torch.device, bool], dict[str, torch.Tensor]]
OnStep = Callable[[int, dict[str, float], Any], None]  # step (1-based), its losses, its batch
Scheduler = torch.optim.lr_scheduler.LRScheduler
MAX_BAD_STEPS = 5
log = logging.getLogger(__name__)


@dataclass
class FitJob:
    """A model ready to train and everything the loop needs; ``resume`` holds optimizer state."""

    model: RetinaNet
    preset: str
    class_names: tuple[str, ...]  # background first
    settings: TrainSettings
    train: list[Sample]
    val: list[Sample]
    from_scratch: bool
    checkpoint_path: Path
    extra_state: dict[str, Any] = field(default_factory=dict)  # saved with each checkpoint (split, run id)
    start_epoch: int = 0
    resume: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.class_names[1:]


@dataclass
class FitOutcome:
    cancelled: bool
    epochs_done: int
    history: list[dict[str, Any]]
    last_eval: EvalResult | None  # of the weights the model holds now (the kept epoch's)
    checkpoint: Path | None
    kept_epoch: int | None = None  # 1-based epoch whose weights the model holds (``keep_best``), None: the last


@dataclass
class Best:
    """The epoch with the best validation mAP so far and a copy of its weights (``TrainSettings.keep_best``)."""

    epoch: int = 0
    result: EvalResult | None = None
    state: dict[str, torch.Tensor] = field(default_factory=dict)

    def offer(self, epoch: int, result: EvalResult | None, model: torch.nn.Module) -> None:
        # >=: of equal epochs the later one, which trained longer at a lower rate.
        if result is not None and (self.result is None or result.map >= self.result.map):
            self.epoch, self.result = epoch, result
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class BadSteps:
    """Consecutive steps skipped for non-finite gradients; the count runs on across epochs."""

    count: int = 0


def train_one_epoch(model: RetinaNet, optimizer: torch.optim.Optimizer, scheduler: Scheduler,
                    batches: Iterator[Any], device: torch.device, *, steps: int, epoch: int,
                    params: list[torch.nn.Parameter], clip_grad_norm: float, loss_fn: LossFn = batch_loss,
                    bf16: bool = False, cancel: threading.Event | None = None, on_step: OnStep | None = None,
                    bad_steps: BadSteps | None = None) -> float | None:
    """Train ``steps`` batches of ``batches``; the epoch's mean loss, or None when ``cancel`` was set.

    A non-finite loss stops the run (``TrainingError``); non-finite gradients skip that update, up to
    ``MAX_BAD_STEPS`` in a row.
    """
    bad_steps = bad_steps or BadSteps()
    total = 0.0
    for step in range(1, steps + 1):
        if cancel is not None and cancel.is_set():
            return None
        batch = next(batches)
        losses = loss_fn(model, batch, device, bf16)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            parts = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
            raise TrainingError(
                f"training stopped: the loss became non-finite at epoch {epoch + 1}, step {step} ({parts}); "
                f"try a lower learning rate (now {optimizer.param_groups[0]['lr']:.3g}) or check the boxes")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        if torch.isfinite(norm):
            optimizer.step()
            bad_steps.count = 0
        else:
            # bf16 backward can overflow right after a loss spike (fp32 does not, measured): skip
            # that update as AMP's GradScaler does, and give up only if it keeps happening.
            bad_steps.count += 1
            log.warning("skipped a step with non-finite gradients (epoch %d, step %d)", epoch + 1, step)
            if bad_steps.count >= MAX_BAD_STEPS:
                raise TrainingError(
                    f"training stopped: gradients were non-finite in {MAX_BAD_STEPS} steps in a row (epoch "
                    f"{epoch + 1}, step {step}); try a lower learning rate or turn bf16 off")
        scheduler.step()
        values = {k: float(v.detach()) for k, v in losses.items()}
        total += sum(values.values())
        if on_step is not None:
            on_step(step, values, batch)
    return total / steps


def fit(job: FitJob, emit: Emit | None = None, cancel: threading.Event | None = None,
        dist: Distributed | None = None) -> FitOutcome:
    """Train ``job`` to its last epoch or until ``cancel`` is set (checked before each step).

    ``dist``: this process's part of a torchrun run (``training.distributed``): it trains its share of each
    batch; only rank 0 evaluates and writes the checkpoint.
    """
    emit = emit or (lambda _e: None)
    cancel = cancel or threading.Event()
    s = job.settings
    if s.freeze is None or s.size is None:
        raise ValueError("FitJob settings need a freeze level and a size (plan.resolve_defaults fills them)")
    device = dist.device if dist is not None else pick_device(s.device)
    bf16 = use_bf16(s.bf16, device)
    model = job.model.to(device) if dist is None else dist.prepare(job.model.to(device))
    params = apply_freeze(model, s.freeze)
    main = dist is None or dist.is_main
    dataset = DetectionDataset(job.train, job.classes,
                               make_transform(s.size, s.scale_jitter, flip=True, photometric=s.photometric),
                               mosaic=s.mosaic)
    steps = math.ceil(len(job.train) / s.batch_size)
    optimizer = make_optimizer(params, s, default_lr(s, job.from_scratch))
    # The schedule's length follows job.settings.epochs, which a time budget shortens after each epoch.
    scheduler = make_schedule(optimizer, s.warmup_steps, lambda: job.settings.epochs * steps)
    if job.resume is not None:
        _load_resume(optimizer, scheduler, job.resume)
    cache: FeatureCache | None = None
    started = recipe.budget_clock()  # a time budget counts from here: feature caching included
    # In a distributed run every process checks the same cancel at the same point (any process's Ctrl-C).
    step_cancel: Any = cancel if dist is None else dist.agreed_cancel(cancel)
    try:
        if s.freeze == "heads" and s.cache_features:  # each process caches every image: heads-only runs are small
            spill = "features" if dist is None else f"features-rank{dist.rank}"
            cache = FeatureCache(spill_dir=job.checkpoint_path.parent / spill)
            if not _build_cache(cache, job, model, device, bf16, emit, step_cancel):
                return _outcome(job, True, job.start_epoch, None)
        bad_steps, last_eval, best = BadSteps(), None, Best()
        cached = cache is not None
        loss_fn = cache.loss if cache is not None else batch_loss
        if dist is not None:
            loss_fn = dist.wrap_loss(model, loss_fn, bf16)
        for epoch in itertools.count(job.start_epoch):
            if epoch >= job.settings.epochs:
                break
            rng = np.random.default_rng([s.seed, epoch])
            torch.manual_seed(s.seed * 100_003 + epoch)  # augmentation has its own seeds (index_batches)
            set_train_mode(model, s.freeze, train_batchnorm=PRESETS[job.preset].coco_weights is None)
            items = cache.epoch_batches(rng, s.batch_size) if cache is not None else index_batches(
                len(dataset), s.batch_size, rng)
            load: Callable[[Any], Any] = list if cached else partial(load_batch, dataset)
            batches = map(load, items) if dist is None else dist.batches(items, load)
            loss = train_one_epoch(
                model, optimizer, scheduler, batches, device, steps=steps, epoch=epoch, params=params,
                clip_grad_norm=s.clip_grad_norm, loss_fn=loss_fn, bf16=bf16,
                cancel=step_cancel, on_step=_step_reporter(job, epoch, steps, optimizer, emit, cached),
                bad_steps=bad_steps)
            if loss is None:
                return _outcome(job, True, epoch, last_eval)
            if not main:  # rank 0 evaluates and writes; the others go on to the next epoch's first exchange
                continue
            emit(PhaseChanged("evaluate", f"Evaluating epoch {epoch + 1} on {len(job.val)} images"))
            # In a distributed run a cancel waits for the next step, where every process sees it at once.
            last_eval = _evaluate(job, model, device, cancel if dist is None else threading.Event())
            if last_eval is None and job.val:
                return _outcome(job, True, epoch, None)
            if dist is None:  # the processes of a distributed run would have to agree: no budget there
                now = recipe.budget_clock()
                epochs = recipe.budget_epochs(job.settings.epochs, epoch + 1, now - started, s.minutes)
                job.settings = replace(job.settings, epochs=epochs)
            _end_epoch(job, epoch, loss, last_eval, model, optimizer, scheduler, emit)
            if s.keep_best:
                best.offer(epoch + 1, last_eval, job.model)
        if best.result is not None and best.epoch < job.settings.epochs:
            emit(PhaseChanged("best", f"Keeping epoch {best.epoch}: best validation mAP {best.result.map:.3f} "
                                      f"(last epoch {last_eval.map if last_eval else 0.0:.3f})"))
            job.model.load_state_dict(best.state)
            return _outcome(job, False, job.settings.epochs, best.result, best.epoch)
        return _outcome(job, False, job.settings.epochs, last_eval)
    finally:
        if cache is not None:
            cache.close()


def _load_resume(optimizer: torch.optim.Optimizer, scheduler: Scheduler,
                 state: dict[str, Any]) -> None:
    try:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise TrainingError(f"checkpoint optimizer state does not fit this run ({exc})") from None


def _outcome(job: FitJob, cancelled: bool, epochs_done: int, last_eval: EvalResult | None,
             kept_epoch: int | None = None) -> FitOutcome:
    checkpoint = job.checkpoint_path if job.checkpoint_path.is_file() else None
    return FitOutcome(cancelled, epochs_done, job.history, last_eval, checkpoint, kept_epoch)


def _build_cache(cache: FeatureCache, job: FitJob, model: RetinaNet, device: torch.device, bf16: bool,
                 emit: Emit, cancel: threading.Event | Any) -> bool:
    """Backbone features of every training image, computed once (False when cancelled)."""
    plain = DetectionDataset(job.train, job.classes, make_transform(job.settings.size))
    emit(PhaseChanged("cache", f"Computing backbone features of {len(plain)} images once"))
    return cache.build(model, plain, device, bf16, should_stop=cancel.is_set)


def _step_reporter(job: FitJob, epoch: int, steps: int, optimizer: torch.optim.Optimizer, emit: Emit,
                   cached: bool) -> OnStep:
    """A ``StepDone`` after each step, with throughput and the time left for the whole run."""
    started, images_done = time.perf_counter(), 0

    def on_step(step: int, losses: dict[str, float], batch: Any) -> None:
        nonlocal images_done
        images_done += len(batch) if cached else len(batch[0])  # cache keys, or (images, targets)
        elapsed = time.perf_counter() - started
        steps_left = (steps - step) + (job.settings.epochs - epoch - 1) * steps
        emit(StepDone(epoch, step, steps, losses, optimizer.param_groups[0]["lr"],
                      images_done / max(elapsed, 1e-9), elapsed / step * steps_left))

    return on_step


def _evaluate(job: FitJob, model: RetinaNet, device: torch.device, cancel: threading.Event) -> EvalResult | None:
    if not job.val:
        return None
    return evaluate_model(model, job.class_names, job.val, job.classes, job.settings.size, device,
                          should_stop=cancel.is_set)


def _end_epoch(job: FitJob, epoch: int, loss: float, result: EvalResult | None, model: RetinaNet,
               optimizer: torch.optim.Optimizer, scheduler: Scheduler,
               emit: Emit) -> None:
    """Record the epoch in the history, write the checkpoint, tell the listeners."""
    entry = {"epoch": epoch + 1, "loss": loss, "val_map": result.map if result else None,
             "val_ap50": result.ap50 if result else None}
    job.history.append(entry)
    save_checkpoint(job.checkpoint_path, {
        "epoch": epoch + 1,
        "model": {k: v.cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "settings": job.settings.to_dict(),
        "preset": job.preset,
        "class_names": list(job.class_names),
        "anchor_sizes": [list(level) for level in model_anchor_sizes(job.model)],
        "history": job.history,
        **job.extra_state,
    })
    emit(EpochDone(epoch, loss, entry["val_map"], entry["val_ap50"], job.checkpoint_path))
