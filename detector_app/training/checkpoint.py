"""Per-epoch checkpoints: written atomically, checked in full before a resumed run trains a step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector_app.errors import TrainingError

FORMAT = "detector_app.training.checkpoint/1"
CHECKPOINT_NAME = "checkpoint.pth"
_KEYS = ("format", "epoch", "model", "optimizer", "scheduler", "settings", "preset", "class_names", "split")


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` via a temporary file, so a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and structurally check a checkpoint; every failure is a one-line ``TrainingError``."""
    if not path.is_file():
        raise TrainingError(f"no checkpoint to resume from at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise TrainingError(f"checkpoint {path} is corrupt or not a checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainingError(f"{path} is not a training checkpoint of this app (no {FORMAT!r} marker)")
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise TrainingError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    return state


def load_model_state(model: nn.Module, state_dict: dict[str, torch.Tensor], source: Path | str) -> None:
    """Load weights strictly; a shape or key mismatch names the first few offending entries."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {k} "
                         f"{tuple(state_dict[k].shape)} != {tuple(own[k].shape)}")
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
        raise TrainingError(f"weights in {source} do not match the model: {'; '.join(parts)}")
    model.load_state_dict(state_dict)
