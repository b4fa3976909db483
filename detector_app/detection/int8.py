"""Int8 inference on the CPU: the network quantized by NNCF and run by OpenVINO.

Why: at 512 px the convolutions are 93% of a frame, and the bf16 path already runs them near the
CPU's bf16 peak. VNNI int8 dot products do twice the work per cycle; measured on the 2-core AVX-512
machine, OpenVINO int8 took 0.44 s per R50-FPN frame against 0.81 s for OpenVINO bf16 and 0.85 s
for PyTorch bf16 (one thread each).

Int8 needs the range of every activation, so the network is calibrated on real inputs: the first
``CALIBRATION_FRAMES`` frames a detector sees run on the bf16 path while their network inputs are kept;
then the network is converted, quantized (NNCF post-training quantization, per-channel weights, fast
bias correction) and compiled once, and every later frame runs in int8. The quantized model is saved in
the cache folder under a fingerprint of the weights and of the quantization settings, so the next run
starts in int8 at once. Anchors, box decoding and NMS stay in PyTorch fp32, as on every path.

x86 CPUs without VNNI (AVX2 only, or AVX-512 without VNNI) multiply u8 activations by s8 weights with
``vpmaddubsw``, which adds pairs of products into a saturating 16-bit integer: 255 * 127 * 2 overflows it,
and the saturated sums wrecked the results (measured on a 2-core AMD EPYC, AVX2 only: worst box IoU
0.72-0.80 of the 500 best anchors against fp32, while the same quantized model run with OpenVINO's
int8 kernels off gave 0.905-0.914). There NNCF quantizes every weight to 7 bits (``overflow_fix``
ENABLE), whose pair sums fit; the int8 kernels then match the model run without them (worst IoU
0.864-0.894 against 0.860-0.895), but 7-bit weights cost accuracy by themselves (neither NNCF's MIXED
preset nor full bias correction won it back: 0.86-0.90), so CPUs whose int8 dot products are exact keep
8-bit weights (NNCF's default, 7 bits in the first layer only).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import logging
import os
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import RetinaNet

from detector_app.detection.network import BackboneHead, HeadOutputs
from detector_app.detection.optimize import fold_batchnorm

log = logging.getLogger(__name__)

CALIBRATION_FRAMES = 8
REQUIRED_PACKAGES = ("openvino", "nncf")
_HEAD_KEYS = ("cls_logits", "bbox_regression")
# P3-P7. Every stride-2 layer of the ResNet-FPN presets maps a side n to ceil(n / 2).
LEVEL_STRIDES = (8, 16, 32, 64, 128)


def int8_unavailable_reason() -> str | None:
    """Why int8 cannot run here, or None when OpenVINO and NNCF are installed."""
    missing = [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return f"int8 needs the Python package(s) {', '.join(missing)} (pip install {' '.join(missing)})"
    return None


def int8_dot_products_exact() -> bool:
    """False on x86 CPUs without VNNI (AVX-512 VNNI, AVX-VNNI or AMX): their int8 kernels sum pairs of
    u8 x s8 products in saturating 16-bit integers (``vpmaddubsw``), which 8-bit weights overflow."""
    caps = torch.cpu.get_capabilities()
    if caps.get("architecture") not in ("x86_64", "x86", "i386", "i686"):
        return True  # the overflow is an x86 pre-VNNI matter
    return any(caps.get(flag) for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def quantization_settings() -> dict[str, str]:
    """What NNCF is told besides the defaults; part of the cache key. ``overflow_fix``: ``enable`` (7-bit
    weights everywhere) where int8 dot products saturate, else NNCF's default ``first_layer``."""
    return {"overflow_fix": "first_layer" if int8_dot_products_exact() else "enable"}


def model_fingerprint(model: nn.Module, settings: dict[str, str] | None = None) -> str:
    """A short hash of the weights and the quantization ``settings``: the cache key of a quantized model
    (a model quantized for another CPU kind or with other settings is not reused)."""
    digest = hashlib.sha1()
    for key, value in sorted((settings if settings is not None else quantization_settings()).items()):
        digest.update(f"{key}={value};".encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class _HeadOutputsOnly(nn.Module):
    """Backbone + head returning only the head's tensors. (With the feature maps as extra outputs,
    OpenVINO 2026.4 returned zeros for P6/P7 after quantization; their sizes are computed instead.)"""

    def __init__(self, model: RetinaNet) -> None:
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(list(self.backbone(x).values()))
        return out["cls_logits"], out["bbox_regression"]


def level_shapes(height: int, width: int) -> list[tuple[int, int]]:
    return [(-(-height // s), -(-width // s)) for s in LEVEL_STRIDES]


class Int8Network:
    """A compiled int8 OpenVINO model with the ``BackboneHead`` interface (fp32 tensors out; the
    "feature maps" are empty tensors that carry each level's size, all the anchor code reads).

    One inference request per calling thread, so several frames can run at once.
    """

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._local = threading.local()

    def __call__(self, x: torch.Tensor) -> HeadOutputs:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        outputs = request.infer({0: x.contiguous().numpy()})  # copies out of the request's buffers
        head = {key: torch.from_numpy(outputs[port]) for key, port in zip(_HEAD_KEYS, self._compiled.outputs,
                                                                             strict=True)}
        n, _, height, width = x.shape
        shapes = level_shapes(height, width)
        levels = [torch.empty((n, 0, h, w)) for h, w in shapes]
        locations = sum(h * w for h, w in shapes)
        if head["cls_logits"].shape[1] % locations:
            raise RuntimeError(f"int8 network gave {head['cls_logits'].shape[1]} anchors for {locations} "
                               "locations: this backbone's levels are not P3-P7")
        return head, levels


def quantize_network(model: RetinaNet, calibration: Sequence[torch.Tensor], threads: int,
                     cache_file: Path | None = None, settings: dict[str, str] | None = None) -> Int8Network:
    """Convert ``model``'s backbone and head to OpenVINO, quantize them on ``calibration`` inputs (network
    inputs: normalised, resized, padded NCHW tensors) with ``settings`` (default: ``quantization_settings()``),
    save the result to ``cache_file`` and compile it."""
    import openvino as ov

    settings = settings if settings is not None else quantization_settings()
    started = time.perf_counter()
    quantized = _quantize(model, calibration, settings)
    log.info("int8: calibrated on %d frames in %.1f s (%s)", len(calibration), time.perf_counter() - started,
             ", ".join(f"{k} {v}" for k, v in settings.items()))
    if cache_file is not None:
        _save_atomically(quantized, cache_file)
    return _compile(ov.Core(), quantized, threads)


def load_cached(cache_file: Path, threads: int) -> Int8Network | None:
    """The quantized model saved earlier, or None; an unreadable file is removed (and made again)."""
    import openvino as ov

    if not cache_file.is_file():
        return None
    core = ov.Core()
    try:
        network = _compile(core, core.read_model(cache_file), threads)
    except Exception as exc:  # OpenVINO raises plain RuntimeErrors for bad files
        log.warning("int8: ignoring the unreadable cached model %s (%s); calibrating again", cache_file, exc)
        cache_file.unlink(missing_ok=True)
        cache_file.with_suffix(".bin").unlink(missing_ok=True)
        return None
    log.info("int8: using the quantized model cached in %s", cache_file)
    return network


def _compile(core: Any, model: Any, threads: int) -> Int8Network:
    return Int8Network(core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                         "INFERENCE_NUM_THREADS": max(1, threads)}))


def _save_atomically(model: Any, cache_file: Path) -> None:
    """Write the IR pair (.xml + .bin) under temporary names, then rename: an interrupted run leaves no
    half-written model that a later run would read."""
    import openvino as ov

    cache_file.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_file.with_name(f"partial-{os.getpid()}-{cache_file.name}")
    ov.save_model(model, partial)
    os.replace(partial.with_suffix(".bin"), cache_file.with_suffix(".bin"))
    os.replace(partial, cache_file)


def _quantize(model: RetinaNet, calibration: Sequence[torch.Tensor], settings: dict[str, str]) -> Any:
    import nncf
    import openvino as ov

    net = copy.deepcopy(model).eval().float()
    fold_batchnorm(net.backbone.body)
    module = _HeadOutputsOnly(net)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # OpenVINO's converter traces with torch.jit
        converted = ov.convert_model(module, example_input=calibration[0],
                                     input=[ov.PartialShape([-1, 3, -1, -1])])
    samples = [t.contiguous().numpy() for t in calibration]
    overflow_fix = {"enable": nncf.OverflowFix.ENABLE, "first_layer": nncf.OverflowFix.FIRST_LAYER,
                    "disable": nncf.OverflowFix.DISABLE}[settings["overflow_fix"]]
    return nncf.quantize(converted, nncf.Dataset(samples), subset_size=len(samples),
                         advanced_parameters=nncf.AdvancedQuantizationParameters(overflow_fix=overflow_fix))


class CalibratingNetwork:
    """Runs ``fallback`` (the bf16/fp32 network) on the first frames while keeping their inputs, then
    switches to the int8 network quantized on them. Any failure leaves the fallback in place."""

    def __init__(self, model: RetinaNet, fallback: BackboneHead, threads: int, cache_dir: Path | None,
                 frames: int = CALIBRATION_FRAMES) -> None:
        self._model, self._fallback = model, fallback
        self._threads, self._frames = threads, frames
        self._settings = quantization_settings()
        self._cached = (cache_dir / f"{model_fingerprint(model, self._settings)}.xml"
                        if cache_dir is not None else None)
        self._lock = threading.Lock()
        self._inputs: list[torch.Tensor] = []
        self.failed: str | None = None
        self._int8 = load_cached(self._cached, threads) if self._cached is not None else None

    @property
    def active(self) -> bool:
        return self._int8 is not None

    @property
    def progress(self) -> str:
        """Human-readable state: ``int8``, ``calibrating int8 (3/8)`` or why int8 is off."""
        if self._int8 is not None:
            return "int8"
        if self.failed:
            return f"int8 failed: {self.failed}"
        if len(self._inputs) >= self._frames:
            return "quantizing int8"
        return f"calibrating int8 ({len(self._inputs)}/{self._frames})"

    def __call__(self, x: torch.Tensor) -> HeadOutputs:
        int8 = self._int8
        if int8 is not None:
            return int8(x)
        outputs = self._fallback(x)
        if self.failed is None:
            self._collect(x)
        return outputs

    def _collect(self, x: torch.Tensor) -> None:
        with self._lock:  # one thread quantizes; frames on other threads carry on with the fallback
            if self._int8 is not None or self.failed is not None:
                return
            self._inputs.append(x.detach().float().contiguous().clone())
            if len(self._inputs) >= self._frames:
                self._build()

    def _build(self) -> None:
        try:
            self._int8 = quantize_network(self._model, self._inputs, self._threads, self._cached,
                                          self._settings)
        except Exception as exc:  # any backend failure must leave detection running
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("int8 quantization failed; detection carries on without it: %s", self.failed)
        self._inputs = []
