"""The optimizer and learning-rate schedule of a run, and its default learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from detector_app.training.settings import TrainSettings


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


def make_schedule(optimizer: torch.optim.Optimizer, warmup: int,
                  total: int | Callable[[], int]) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to 5% over the whole run (so resuming continues the curve).

    ``total`` may be a function: a run with a time budget shortens its run after each epoch (loop.fit).
    """
    total_steps = total if callable(total) else (lambda: total)
    warmup = max(0, min(warmup, total_steps() // 4))

    def factor(step: int) -> float:
        if step < warmup:
            return 0.001 + (1 - 0.001) * step / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps() - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
