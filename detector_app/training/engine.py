"""The training loop (plain, as in torchvision's references/detection), independent of the database.

``fit`` takes a prepared model and samples, trains epoch by epoch, evaluates on the validation
samples and writes a checkpoint after each epoch. It checks ``cancel`` before every step.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.models.detection import RetinaNet

from detector_app.detection.presets import PRESETS
from detector_app.errors import TrainingError
from detector_app.training.checkpoint import save_checkpoint
from detector_app.training.data import DetectionDataset, Sample, make_transform
from detector_app.training.evaluate import evaluate_model
from detector_app.training.features import FeatureCache, batch_loss, image_batches
from detector_app.training.model_setup import apply_freeze, pick_device, set_train_mode, use_bf16
from detector_app.training.settings import (
    EpochDone,
    EvalResult,
    PhaseChanged,
    StepDone,
    TrainEvent,
    TrainSettings,
)

Emit = Callable[[TrainEvent], None]
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
    last_eval: EvalResult | None
    checkpoint: Path | None


def default_lr(settings: TrainSettings, from_scratch: bool) -> float:
    """AdamW 5e-4 from scratch (1e-3 was 5x slower to start on the shapes set, see the report),
    1e-4 for fine-tuning; SGD (momentum 0.9) scaled linearly with the batch as in torchvision's recipe."""
    if settings.lr is not None:
        return settings.lr
    if settings.optimizer == "adamw":
        return 5e-4 if from_scratch else 1e-4
    return 0.0025 * settings.batch_size if from_scratch else 0.00125 * settings.batch_size


def make_optimizer(params: list[torch.nn.Parameter], settings: TrainSettings,
                   lr: float) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=settings.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to 5% over the whole run (so resuming continues the curve)."""
    warmup = max(0, min(warmup, total // 4))

    def factor(step: int) -> float:
        if step < warmup:
            return 0.001 + (1 - 0.001) * step / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _Trainer:
    def __init__(self, job: FitJob, emit: Emit, cancel: threading.Event) -> None:
        self.job, self.emit, self.cancel = job, emit, cancel
        s = job.settings
        if s.freeze is None or s.size is None:
            raise ValueError("FitJob settings need a freeze level and a size (plan.resolve_defaults fills them)")
        self.device = pick_device(s.device)
        self.bf16 = use_bf16(s.bf16, self.device)
        self.model = job.model.to(self.device)
        self.params = apply_freeze(self.model, s.freeze)
        self.cache: FeatureCache | None = None
        self.bad_steps = 0  # consecutive steps skipped for non-finite gradients
        self.dataset = DetectionDataset(job.train, job.classes,
                                        make_transform(s.size, s.scale_jitter, flip=True, photometric=s.photometric))
        self.steps_per_epoch = math.ceil(len(job.train) / s.batch_size)
        self.optimizer = make_optimizer(self.params, s, default_lr(s, job.from_scratch))
        self.scheduler = make_schedule(self.optimizer, s.warmup_steps, s.epochs * self.steps_per_epoch)
        if job.resume is not None:
            self._load_resume(job.resume)

    def _load_resume(self, state: dict[str, Any]) -> None:
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise TrainingError(f"checkpoint optimizer state does not fit this run ({exc})") from None

    def run(self) -> FitOutcome:
        s = self.job.settings
        if s.freeze == "heads" and s.cache_features and not self._build_cache():
            return self._outcome(True, self.job.start_epoch, None)
        last_eval = None
        for epoch in range(self.job.start_epoch, s.epochs):
            loss = self._train_epoch(epoch)
            if loss is None:
                return self._outcome(True, epoch, last_eval)
            self.emit(PhaseChanged("evaluate", f"Evaluating epoch {epoch + 1} on {len(self.job.val)} images"))
            last_eval = self._evaluate()
            if last_eval is None and self.job.val:
                return self._outcome(True, epoch, None)
            self._end_epoch(epoch, loss, last_eval)
        return self._outcome(False, s.epochs, last_eval)

    def _outcome(self, cancelled: bool, epochs_done: int, last_eval: EvalResult | None) -> FitOutcome:
        if self.cache is not None:
            self.cache.close()
        checkpoint = self.job.checkpoint_path if self.job.checkpoint_path.is_file() else None
        return FitOutcome(cancelled, epochs_done, self.job.history, last_eval, checkpoint)

    def _build_cache(self) -> bool:
        s = self.job.settings
        plain = DetectionDataset(self.job.train, self.job.classes, make_transform(s.size))
        self.cache = FeatureCache(spill_dir=self.job.checkpoint_path.parent / "features")
        self.emit(PhaseChanged("cache", f"Computing backbone features of {len(plain)} images once"))
        return self.cache.build(self.model, plain, self.device, self.bf16, should_stop=self.cancel.is_set)

    def _train_epoch(self, epoch: int) -> float | None:
        """Mean loss of the epoch, or None when cancelled."""
        s = self.job.settings
        rng = np.random.default_rng([s.seed, epoch])
        torch.manual_seed(s.seed * 100_003 + epoch)  # the v2 transforms draw from torch's generator
        set_train_mode(self.model, s.freeze, train_batchnorm=PRESETS[self.job.preset].coco_weights is None)
        if self.cache is not None:
            batches = self.cache.epoch_batches(rng, s.batch_size)
        else:
            batches = image_batches(self.dataset, s.batch_size, rng)
        started, images_done, total = time.perf_counter(), 0, 0.0
        for step in range(1, self.steps_per_epoch + 1):
            if self.cancel.is_set():
                return None
            batch = next(batches)
            losses = self._step(batch, epoch, step)
            images_done += len(batch) if self.cache is not None else len(batch[0])
            total += sum(losses.values())
            self._emit_step(epoch, step, losses, images_done, time.perf_counter() - started)
        return total / self.steps_per_epoch

    def _step(self, batch: Any, epoch: int, step: int) -> dict[str, float]:
        s = self.job.settings
        if self.cache is not None:
            losses = self.cache.loss(self.model, batch, self.device, self.bf16)
        else:
            losses = batch_loss(self.model, batch, self.device, self.bf16)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            parts = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
            raise TrainingError(
                f"training stopped: the loss became non-finite at epoch {epoch + 1}, step {step} ({parts}); "
                f"try a lower learning rate (now {self.optimizer.param_groups[0]['lr']:.3g}) or check the boxes")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, s.clip_grad_norm)
        if torch.isfinite(norm):
            self.optimizer.step()
            self.bad_steps = 0
        else:
            # bf16 backward can overflow right after a loss spike (fp32 does not, measured): skip
            # that update as AMP's GradScaler does, and give up only if it keeps happening.
            self.bad_steps += 1
            log.warning("skipped a step with non-finite gradients (epoch %d, step %d)", epoch + 1, step)
            if self.bad_steps >= MAX_BAD_STEPS:
                raise TrainingError(
                    f"training stopped: gradients were non-finite in {MAX_BAD_STEPS} steps in a row (epoch "
                    f"{epoch + 1}, step {step}); try a lower learning rate or turn bf16 off")
        self.scheduler.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def _emit_step(self, epoch: int, step: int, losses: dict[str, float], images: int, elapsed: float) -> None:
        s = self.job.settings
        per_step = elapsed / step
        steps_left = (self.steps_per_epoch - step) + (s.epochs - epoch - 1) * self.steps_per_epoch
        self.emit(StepDone(epoch, step, self.steps_per_epoch, losses, self.optimizer.param_groups[0]["lr"],
                           images / max(elapsed, 1e-9), per_step * steps_left))

    def _evaluate(self) -> EvalResult | None:
        if not self.job.val:
            return None
        return evaluate_model(self.model, self.job.class_names, self.job.val, self.job.classes,
                              self.job.settings.size, self.device, should_stop=self.cancel.is_set)

    def _end_epoch(self, epoch: int, loss: float, result: EvalResult | None) -> None:
        entry = {"epoch": epoch + 1, "loss": loss, "val_map": result.map if result else None,
                 "val_ap50": result.ap50 if result else None}
        self.job.history.append(entry)
        save_checkpoint(self.job.checkpoint_path, {
            "epoch": epoch + 1,
            "model": {k: v.cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "settings": self.job.settings.to_dict(),
            "preset": self.job.preset,
            "class_names": list(self.job.class_names),
            "history": self.job.history,
            **self.job.extra_state,
        })
        self.emit(EpochDone(epoch, loss, entry["val_map"], entry["val_ap50"], self.job.checkpoint_path))


def fit(job: FitJob, emit: Emit | None = None, cancel: threading.Event | None = None) -> FitOutcome:
    """Train ``job`` to its last epoch or until ``cancel`` is set (checked before each step)."""
    return _Trainer(job, emit or (lambda _e: None), cancel or threading.Event()).run()
