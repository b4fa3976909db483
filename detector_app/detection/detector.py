"""``Detector``: BGR frames in, :class:`Detections` out.

Preprocessing is torchvision's own ``GeneralizedRCNNTransform`` fed with the same float tensor that
``to_tensor(rgb)`` gives, so results equal the reference call ``model([to_tensor(rgb)])`` in fp32.
The fast path (on by default) runs the network in bf16 on CPUs with native bf16 (AVX512-BF16/AMX) or in
fp16 on CUDA, with channels-last memory and BatchNorm folded into the convolutions; box decoding, NMS
and everything after the network stay in fp32.

Each configuration is an immutable ``_Engine`` snapshot: ``predict`` takes the current one and runs
without holding a lock, so ``update_config`` / ``swap_model`` from another thread never wait for a
frame and never change a frame half-way.

Frames reach the network through :mod:`~detector_app.detection.frame_input`; the device and the fast path's
precision are chosen in :mod:`~detector_app.detection.devices`; ``DetectorConfig`` is defined, without torch,
in :mod:`~detector_app.detection.config` and re-exported here.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from detector_app.core.detections import Detections
from detector_app.detection.config import MAX_SIZE_RATIO, DetectorConfig
from detector_app.detection.devices import (
    cpu_has_fast_bf16,
    limit_cpu_threads,
    low_precision_dtype,
    resolve_device,
)
from detector_app.detection.frame_input import PRESHRINK_PIXELS, frame_to_tensor, network_input
from detector_app.detection.int8 import CalibratingNetwork, int8_unavailable_reason
from detector_app.detection.network import BackboneHead
from detector_app.detection.optimize import fold_batchnorm, to_low_precision
from detector_app.detection.weights import LoadedModel
from detector_app.detection.weights_metadata import UNUSED_ID
from detector_app.errors import DetectorAppError
from detector_app.paths import app_paths

__all__ = [
    "ANCHOR_CACHE_SIZE",
    "MAX_SIZE_RATIO",
    "PRESHRINK_PIXELS",
    "Detector",
    "DetectorConfig",
    "cpu_has_fast_bf16",
    "frame_to_tensor",
    "limit_cpu_threads",
    "low_precision_dtype",
    "resolve_device",
]

log = logging.getLogger(__name__)

ANCHOR_CACHE_SIZE = 16
_PRECISION_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class _Network:
    """A private copy of the model prepared for one device and precision."""

    model: RetinaNet
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype; None means plain fp32
    core: BackboneHead | CalibratingNetwork

    @property
    def channels_last(self) -> bool:
        return self.dtype is not None

    @property
    def precision(self) -> str:
        if isinstance(self.core, CalibratingNetwork) and self.core.active:
            return "int8"
        return _PRECISION_NAMES.get(self.dtype, "fp32")  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Engine:
    """Everything ``predict`` needs, frozen together so a frame sees one consistent configuration."""

    net: _Network
    config: DetectorConfig
    class_names: tuple[str, ...]
    name: str
    transform: GeneralizedRCNNTransform
    post: RetinaNet  # shallow view of the model carrying this config's thresholds
    suppressed: torch.Tensor | None  # bool per class: True = never reported
    anchors: dict = field(default_factory=dict)


class Detector:
    """Runs a loaded RetinaNet on BGR uint8 frames (as OpenCV returns them)."""

    def __init__(self, loaded: LoadedModel, config: DetectorConfig | None = None) -> None:
        self._lock = threading.Lock()  # serialises writers; readers take a snapshot of _engine
        config = config or DetectorConfig()
        self._loaded = loaded
        self._engine = _build_engine(loaded, config, _prepare_network(loaded, config))

    # --- properties ---
    @property
    def config(self) -> DetectorConfig:
        return self._engine.config

    @property
    def device(self) -> torch.device:
        return self._engine.net.device

    @property
    def fast_path_active(self) -> bool:
        """True when the network runs in reduced precision (bf16 on CPU, fp16 on CUDA, or int8)."""
        return self.precision != "fp32"

    @property
    def precision(self) -> str:
        """fp32, bf16, fp16 or int8: what the network runs in now."""
        return self._engine.net.precision

    @property
    def int8_status(self) -> str | None:
        """With ``int8`` asked for: ``int8``, ``calibrating int8 (n/8)`` or why it is off; else None."""
        core = self._engine.net.core
        if isinstance(core, CalibratingNetwork):
            return core.progress
        return self.int8_problem

    @property
    def int8_problem(self) -> str | None:
        """Why int8, though asked for, cannot run (None when it runs, calibrates or was not asked for)."""
        core = self._engine.net.core
        if isinstance(core, CalibratingNetwork):
            return core.failed
        return _int8_off_reason(self._engine.net.device) if self.config.int8 else None

    @property
    def name(self) -> str:
        return self._engine.name

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._engine.class_names

    # --- changes from other threads ---
    def update_config(self, **changes: object) -> DetectorConfig:
        """Apply new settings; frames already running finish with the old ones."""
        with self._lock:
            old = self._engine
            config = replace(old.config, **changes)  # type: ignore[arg-type]
            same_net = (config.device, config.fast, config.int8) == (old.config.device, old.config.fast,
                                                                     old.config.int8)
            net = old.net if same_net else _prepare_network(self._loaded, config)
            self._engine = _build_engine(self._loaded, config, net)
            return config

    def swap_model(self, loaded: LoadedModel) -> None:
        """Use another model with the current settings (class filter limited to its classes)."""
        with self._lock:
            config = self._engine.config
            if config.classes:
                kept = tuple(c for c in config.classes if c in loaded.class_names)
                if kept != config.classes:
                    log.warning("class filter %s reduced to %s for model %s", config.classes, kept, loaded.name)
                config = replace(config, classes=kept or None)
            net = _prepare_network(loaded, config)
            self._loaded = loaded
            self._engine = _build_engine(loaded, config, net)

    # --- inference ---
    def predict(self, frame_bgr: np.ndarray) -> Detections:
        return self.predict_batch([frame_bgr])[0]

    def predict_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One forward pass for all frames (they are padded to a common size, as torchvision does)."""
        engine = self._engine
        if not len(frames):
            return []
        with torch.inference_mode():
            size, max_size, device = engine.config.size, engine.config.max_size, engine.net.device
            inputs = [network_input(f, size, max_size, device) for f in frames]
            outputs = _forward(engine, [t for t, _ in inputs], [size for _, size in inputs])
        return [_to_detections(o, engine) for o in outputs]


def _prepare_network(loaded: LoadedModel, config: DetectorConfig) -> _Network:
    """A copy of the model for this device/precision; the caller's model is never modified."""
    device = resolve_device(config.device)
    if device.type == "cpu":
        limit_cpu_threads()
    dtype = low_precision_dtype(device, config.fast)
    model = copy.deepcopy(loaded.model).eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    if dtype is not None:
        fold_batchnorm(model.backbone.body)
        to_low_precision(model, dtype)
        model = model.to(memory_format=torch.channels_last)
    core: BackboneHead | CalibratingNetwork = BackboneHead(model, device.type, dtype)
    if config.int8:
        reason = _int8_off_reason(device)
        if reason is None:
            core = CalibratingNetwork(loaded.model, core, torch.get_num_threads(), app_paths().cache / "int8")
        else:
            log.warning("int8 is off: %s", reason)
    return _Network(model, device, dtype, core)


def _int8_off_reason(device: torch.device) -> str | None:
    if device.type != "cpu":
        return f"int8 runs on the CPU only (device is {device})"
    return int8_unavailable_reason()


def _build_engine(loaded: LoadedModel, config: DetectorConfig, net: _Network) -> _Engine:
    names = tuple(loaded.class_names)
    model = net.model
    transform = GeneralizedRCNNTransform(
        min_size=config.size,
        max_size=config.max_size,
        image_mean=model.transform.image_mean,
        image_std=model.transform.image_std,
        size_divisible=model.transform.size_divisible,
        fixed_size=model.transform.fixed_size,
    ).eval()  # in training mode it would skip rescaling boxes to the original image
    # A shallow copy shares every submodule but has its own thresholds, so configs never interfere.
    post = copy.copy(model)
    post.score_thresh = config.score_threshold
    post.detections_per_img = config.max_detections
    return _Engine(net, config, names, loaded.name, transform, post, _suppression_mask(config, names, net.device))


def _suppression_mask(config: DetectorConfig, names: tuple[str, ...], device: torch.device) -> torch.Tensor | None:
    """Classes never reported: torchvision's unused COCO ids ("N/A", which untrained or fine-tuned heads can
    still score) and, with ``config.classes``, every class not asked for."""
    unused = [n == UNUSED_ID for n in names]
    if not config.classes:
        return torch.tensor(unused, dtype=torch.bool, device=device) if any(unused) else None
    unknown = [c for c in config.classes if c not in names]
    if unknown:
        choices = ", ".join(n for n in names[1:] if n != UNUSED_ID)
        raise DetectorAppError(f"unknown class name(s) {', '.join(unknown)}; this model knows: {choices}")
    wanted = set(config.classes) - {UNUSED_ID}
    return torch.tensor([n not in wanted for n in names], dtype=torch.bool, device=device)


def _run_network(
    engine: _Engine, images: ImageList
) -> tuple[dict[str, torch.Tensor], list[torch.Tensor], list[int]]:
    """Backbone and head (reduced precision on the fast path).

    Returns fp32 head outputs, the anchors of each image and the number of locations per pyramid level.
    """
    net = engine.net
    x = images.tensors
    if net.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    head, features = net.core(x)
    if engine.suppressed is not None:
        head["cls_logits"][..., engine.suppressed] = float("-inf")
    locations = [f.shape[-2] * f.shape[-1] for f in features]
    return head, _anchors(engine, images, features), locations


def _anchors(engine: _Engine, images: ImageList, features: list[torch.Tensor]) -> list[torch.Tensor]:
    """Anchors depend only on the padded input and feature sizes: computed once per size (video frames)."""
    x = images.tensors
    key = (tuple(x.shape), tuple(tuple(f.shape[-2:]) for f in features))
    cached = engine.anchors.get(key)
    if cached is None:
        # The generator takes its dtype from the features; anchors must stay fp32 when features are bf16.
        grids = [torch.empty((1, 1, *f.shape[-2:]), device=x.device) for f in features]
        cached = engine.net.model.anchor_generator(images, grids)
        if len(engine.anchors) >= ANCHOR_CACHE_SIZE:  # image folders of many sizes: keep memory bounded
            engine.anchors.clear()
        engine.anchors[key] = cached
    return cached


def _forward(engine: _Engine, tensors: list[torch.Tensor],
             original_sizes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
    """RetinaNet's eval-mode forward, split so that only the network runs in reduced precision. Boxes come
    back in ``original_sizes`` pixels (the frames' own, also when a tensor was shrunk first)."""
    images, _ = engine.transform(tensors)
    head, anchors, locations = _run_network(engine, images)
    per_location = head["cls_logits"].size(1) // sum(locations)
    counts = [n * per_location for n in locations]
    split_head = {k: list(v.split(counts, dim=1)) for k, v in head.items()}
    split_anchors = [list(a.split(counts)) for a in anchors]
    detections = engine.post.postprocess_detections(split_head, split_anchors, images.image_sizes)
    return engine.transform.postprocess(detections, images.image_sizes, original_sizes)


def _to_detections(output: dict[str, torch.Tensor], engine: _Engine) -> Detections:
    return Detections(
        output["boxes"].float().cpu().numpy(),
        output["scores"].float().cpu().numpy(),
        output["labels"].cpu().numpy(),
        engine.class_names,
    )

