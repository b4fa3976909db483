"""The network part of a RetinaNet (backbone + head), optionally compiled with ``torch.compile``.

This is the only part that runs in reduced precision; anchors, box decoding and NMS stay outside, in fp32.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import torch
from torch import nn
from torchvision.models.detection import RetinaNet

log = logging.getLogger(__name__)

HeadOutputs = tuple[dict[str, torch.Tensor], list[torch.Tensor]]


class BackboneHead(nn.Module):
    """``x -> ({cls_logits, bbox_regression} in fp32, feature maps)`` under autocast when ``dtype`` is set."""

    def __init__(self, model: RetinaNet, device_type: str, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.backbone, self.head = model.backbone, model.head
        self.device_type, self.dtype = device_type, dtype

    def forward(self, x: torch.Tensor) -> HeadOutputs:
        autocast = (torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            features = list(self.backbone(x).values())
            head = self.head(features)
        return {k: v.float() for k, v in head.items()}, features


class CompiledBackboneHead:
    """``torch.compile`` of :class:`BackboneHead` with inductor's freezing (weights become constants, so
    convolution weights are pre-packed once and ReLU/residual adds fuse into the convolutions).

    Each new input shape compiles once (tens of seconds on a small CPU), so this suits video and webcams,
    whose frames share one size. Compilation runs under a lock so that parallel workers do not compile
    the same shape twice.
    """

    def __init__(self, module: BackboneHead) -> None:
        self._compiled: Callable[[torch.Tensor], HeadOutputs] = torch.compile(
            module, options={"freezing": True}, dynamic=False)
        self._ready: set[tuple[int, ...]] = set()
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> HeadOutputs:
        shape = tuple(x.shape)
        if shape in self._ready:
            return self._compiled(x)
        with self._lock:
            start = time.monotonic()
            out = self._compiled(x)
            if shape not in self._ready:
                log.info("compiled the network for input %s in %.1f s", shape, time.monotonic() - start)
                self._ready.add(shape)
            return out
