"""Preparing a RetinaNet for training: class head, frozen parts, device, precision."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.detection import RetinaNet

from detector_app.detection.detector import cpu_has_fast_bf16
from detector_app.detection.presets import replace_classification_head
from detector_app.errors import TrainingError


def adapt_classes(model: RetinaNet, old_names: Sequence[str], new_names: Sequence[str]) -> None:
    """Give ``model`` a classification head for ``new_names`` (background first) when they differ.

    The new head starts from presets.replace_classification_head (prior-probability bias). Its conv
    tower and the logits of classes the old head already knew are copied over, so known classes
    start where they were and only new classes start from the prior.
    """
    if tuple(old_names) == tuple(new_names):
        return
    old = model.head.classification_head
    replace_classification_head(model, len(new_names))
    new = model.head.classification_head
    new.conv.load_state_dict(old.conv.state_dict())
    anchors = model.anchor_generator.num_anchors_per_location()[0]
    k_old, k_new = len(old_names), len(new_names)
    old_index = {name: i for i, name in enumerate(old_names)}
    with torch.no_grad():
        for j, name in enumerate(new_names):
            i = old_index.get(name)
            if i is None or j == 0:
                continue  # the background row is unused by the focal loss; new classes keep the prior
            for a in range(anchors):
                new.cls_logits.weight[a * k_new + j] = old.cls_logits.weight[a * k_old + i]
                new.cls_logits.bias[a * k_new + j] = old.cls_logits.bias[a * k_old + i]


def apply_freeze(model: RetinaNet, level: str) -> list[nn.Parameter]:
    """Freeze per ``level`` (heads | fpn | all = what trains) and return the trainable parameters."""
    for p in model.parameters():
        p.requires_grad_(True)
    frozen: list[nn.Module] = []
    if level in ("heads", "fpn"):
        frozen.append(model.backbone.body)
    if level == "heads":
        frozen.append(model.backbone.fpn)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError(f"freeze level {level!r} leaves nothing to train in this model")
    return params


def set_train_mode(model: RetinaNet, level: str, train_batchnorm: bool = True) -> None:
    """Train mode, except frozen parts: their BatchNorm statistics must not drift.

    ``train_batchnorm`` False keeps every BatchNorm on its running statistics, as torchvision does
    for pretrained backbones (batches of a few images would spoil them).
    """
    model.train()
    if level in ("heads", "fpn"):
        model.backbone.body.eval()
    if level == "heads":
        model.backbone.eval()
    if not train_batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def pick_device(spec: str = "auto") -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise TrainingError(f"unknown device {spec!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was asked for but no CUDA GPU is available")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Native bf16 (CUDA, or a CPU with AVX512-BF16/AMX); emulated bf16 would be slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_fast_bf16()


def use_bf16(setting: bool | None, device: torch.device) -> bool:
    """``TrainSettings.bf16``: None (auto) and True mean bf16 wherever it is native."""
    return setting is not False and bf16_supported(device)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast when ``enabled`` (callers resolve it with ``use_bf16``); a no-op otherwise."""
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_input_size(model: RetinaNet, size: int) -> None:
    """Inference resizes the long side to ``size``, as the training data were."""
    model.transform.min_size = (size,)
    model.transform.max_size = size
