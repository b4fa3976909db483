"""Per-epoch checkpoints: written atomically, checked in full before a resumed run trains a step."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detector_app.core.names import describe
from detector_app.detection.weights_metadata import (
    WeightsMetadata,
    check_dict,
    check_int,
    read_torch_file,
)
from detector_app.errors import TrainingError
from detector_app.training.settings import TrainSettings

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
    """Read and check a checkpoint in full; every failure is a one-line ``TrainingError``.

    The returned dict has the types the trainer relies on: ``epoch`` an int, ``settings`` a dict,
    ``preset`` a known preset, ``class_names`` a tuple with the background first, ``model`` named
    tensors, ``optimizer``/``scheduler`` dicts, ``split`` two lists of image ids.
    """
    if not os.path.lexists(path):
        raise TrainingError(f"no checkpoint to resume from at {path}")
    source = f"checkpoint {path}"
    state = read_torch_file(path, TrainingError, "checkpoint", label=source)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainingError(f"{path} is not a training checkpoint of this app (no {FORMAT!r} marker)")
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise TrainingError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    return {**state, **check_checkpoint(state, source)}


def check_checkpoint(state: dict[str, Any], source: str) -> dict[str, Any]:
    """The checked and normalised fields of a checkpoint's dict (see :func:`load_checkpoint`)."""
    meta = WeightsMetadata.from_payload(state, source, error=TrainingError, state_key="model",
                                        require_metadata=True)
    settings = settings_from_dict(state["settings"], source).to_dict()
    optimizer = check_dict(state["optimizer"], source, "optimizer state", TrainingError)
    if not isinstance(optimizer.get("state"), dict) or not isinstance(optimizer.get("param_groups"), list):
        raise TrainingError(f"{source}: the optimizer state is not one this app wrote")
    split = check_dict(state["split"], source, "split", TrainingError)
    ids: dict[str, list[int]] = {}
    for part in ("train", "val"):
        values = split.get(part)
        if not isinstance(values, list | tuple):
            raise TrainingError(f"{source}: split[{part!r}] must be a list of image ids, not {describe(values)}")
        ids[part] = [check_int(v, source, f"an image id in split[{part!r}]", TrainingError) for v in values]
    history = state.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise TrainingError(f"{source}: history must be a list of per-epoch dicts, not {describe(history)}")
    parent = state.get("parent_version_id")
    scratch = state.get("from_scratch", False)
    if not isinstance(scratch, bool):
        raise TrainingError(f"{source}: from_scratch must be true or false, not {describe(scratch)}")
    return {
        "epoch": check_int(state["epoch"], source, "epoch", TrainingError),
        "model": meta.state_dict, "preset": meta.preset, "class_names": meta.class_names,
        "anchor_sizes": meta.anchor_sizes,
        "settings": settings, "optimizer": optimizer,
        "scheduler": check_dict(state["scheduler"], source, "scheduler state", TrainingError),
        "split": ids, "history": history,
        "parent_version_id": None if parent is None else check_int(parent, source, "parent_version_id",
                                                                   TrainingError, minimum=1),
        "from_scratch": scratch,
    }


# Field -> accepted types of TrainSettings as stored (JSON or a checkpoint): anything else is refused.
_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "epochs": (int, type(None)), "size": (int, type(None)), "freeze": (str, type(None)), "val_share": (float, int),
    "preset": (str, type(None)), "parent": (int, str, type(None)), "classes": (list, tuple, type(None)),
    "batch_size": (int,), "lr": (float, int, type(None)), "optimizer": (str,), "weight_decay": (float, int),
    "warmup_steps": (int,), "clip_grad_norm": (float, int), "scale_jitter": (float, int),
    "photometric": (bool,), "cache_features": (bool,), "bf16": (bool, type(None)), "device": (str,),
    "seed": (int,), "threads": (int, type(None)), "name": (str, type(None)),
    "mosaic": (float, int), "minutes": (float, int, type(None)), "fit_anchors": (bool,), "keep_best": (bool,),
}


def settings_from_dict(data: object, source: str) -> TrainSettings:
    """``TrainSettings`` from stored settings, every field type-checked first (one-line ``TrainingError``)."""
    values = check_dict(data, source, "settings", TrainingError)
    for key, types in _SETTING_TYPES.items():
        if key not in values:
            continue
        value = values[key]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise TrainingError(f"{source}: setting {key} is {describe(value)}, which is not a valid {key}")
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainingError(f"{source}: setting {key} is {describe(value)}, not a finite number")
        if key == "classes" and value is not None and not all(isinstance(c, str) for c in value):
            raise TrainingError(f"{source}: setting classes must be a list of class names")
    if isinstance(values.get("threads"), int) and not isinstance(values["threads"], bool) and values["threads"] < 0:
        raise TrainingError(f"{source}: setting threads must not be negative")
    return TrainSettings.from_dict(values)


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
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, ValueError) as exc:  # e.g. a tensor of a type that cannot be copied in
        reason = " ".join(str(exc).split())[:200]
        raise TrainingError(f"weights in {source} cannot be loaded into the model ({reason})") from None
