"""Where and in what precision the network runs: the device named in the settings, the fast path's dtype
(fp16 on CUDA, bf16 on CPUs with native bf16), and torch's CPU thread pool."""

from __future__ import annotations

import os

import torch

from detector_app.errors import DetectorAppError


def available_devices() -> list[str]:
    """The devices this computer has, for a menu: ``cpu`` always, ``cuda`` and ``mps`` when torch can use them."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    return found


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; a named CUDA or MPS device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DetectorAppError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DetectorAppError(f"device {name!r} requested but CUDA is not available on this computer; use cpu")
    if device.type == "mps" and not _mps_available():
        raise DetectorAppError(f"device {name!r} requested but Apple MPS is not available on this computer; use cpu")
    return device


def cpu_has_fast_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX) make bf16 convolutions ~2x faster than fp32."""
    if not torch.backends.mkldnn.is_available():
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def low_precision_dtype(device: torch.device, fast: bool) -> torch.dtype | None:
    """The fast path's dtype: fp16 on CUDA (as fast as bf16 there, and more precise), bf16 on CPUs that
    have it natively; None (plain fp32) otherwise or when ``fast`` is off."""
    if not fast:
        return None
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_fast_bf16() else None


def limit_cpu_threads() -> int:
    """Keep torch's intra-op pool within the CPUs this process may use (containers often report more)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    if torch.get_num_threads() > available:
        torch.set_num_threads(available)
    return torch.get_num_threads()

