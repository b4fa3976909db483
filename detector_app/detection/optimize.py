"""Inference-only rewrites of a model copy for the fast path. Never applied to a model being trained."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.ops.misc import FrozenBatchNorm2d

_BATCHNORMS = (nn.BatchNorm2d, FrozenBatchNorm2d)
# ResNet blocks apply bnN right after convN.
_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def fold_batchnorm(resnet_body: nn.Module) -> int:
    """Fold each BatchNorm of a torchvision ResNet body into the convolution before it.

    In eval mode BatchNorm is a per-channel affine map, so it can live in the convolution's weights and
    bias; this removes one full pass over every activation. Returns the number of folded layers.
    """
    folded = 0
    for module in resnet_body.modules():
        for conv_name, bn_name in _PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, _BATCHNORMS):
                setattr(module, conv_name, _fuse(conv, bn))
                setattr(module, bn_name, nn.Identity())
                folded += 1
        # downsample = Sequential(conv1x1, norm)
        if isinstance(module, nn.Sequential) and len(module) == 2:
            conv, bn = module[0], module[1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, _BATCHNORMS):
                module[0], module[1] = _fuse(conv, bn), nn.Identity()
                folded += 1
    return folded


def _fuse(conv: nn.Conv2d, bn: nn.Module) -> nn.Conv2d:
    conv.eval()
    bn.eval()
    return fuse_conv_bn_eval(conv, bn)  # type: ignore[arg-type]


def to_low_precision(model: nn.Module, dtype: torch.dtype) -> None:
    """Store convolution weights in ``dtype`` so autocast does not re-cast them on every frame.

    Normalisation layers (GroupNorm in the v2 head) keep fp32 parameters; autocast runs them in fp32.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.to(dtype)
