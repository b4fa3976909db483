"""Frames on their way to the network: BGR uint8 checks, the refusal of frames too thin to resize, the uint8
pre-shrink of huge frames, and the float tensor ``to_tensor(rgb)`` would give."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from detector_app.core.images import UnusableImageError

# Frames with more pixels than this (4096 x 4096) that the network shrinks by more than half are shrunk in
# uint8 first (see network_input): the results stay in the frame's pixels, the memory stays small.
PRESHRINK_PIXELS = 4096 * 4096


def frame_to_tensor(frame_bgr: np.ndarray, device: torch.device) -> torch.Tensor:
    """The exact float tensor ``to_tensor(rgb)`` gives (CHW, RGB, /255), built on ``device``.

    Only uint8 crosses to the device (4x less than float), and the channel flip replaces cv2.cvtColor.
    """
    frame = as_bgr_uint8(frame_bgr)
    t = torch.from_numpy(np.ascontiguousarray(frame)).to(device, non_blocking=True)
    return t.permute(2, 0, 1).flip(0).contiguous().to(torch.float32).div_(255)


def network_input(frame_bgr: np.ndarray, size: int, max_size: int,
                  device: torch.device) -> tuple[torch.Tensor, tuple[int, int]]:
    """The float tensor on ``device`` for a network fed ``size`` pixels on the shorter side (at most ``max_size``
    on the longer) and the frame's (height, width), to which boxes are scaled back.

    A frame too thin to resize is refused here (UnusableImageError), never inside torch. A frame far larger
    than the network input (a 12000 x 12000 photo) is first shrunk in uint8 to twice the input size, so the
    float tensor is small: otherwise the full-size float copies take several GB. Other frames go through
    unchanged, exactly as the reference ``model([to_tensor(rgb)])`` sees them.
    """
    frame = as_bgr_uint8(frame_bgr)
    height, width = int(frame.shape[0]), int(frame.shape[1])
    scale = check_resizable(frame, size, max_size)
    if height * width > PRESHRINK_PIXELS and 2 * scale < 1:
        shrunk = (max(1, round(width * 2 * scale)), max(1, round(height * 2 * scale)))
        frame = cv2.resize(frame, shrunk, interpolation=cv2.INTER_AREA)
    return frame_to_tensor(frame, device), (height, width)


def check_resizable(frame: np.ndarray, size: int, max_size: int) -> float:
    """The scale torchvision's transform will apply (computed as it does, in float32); UnusableImageError
    when a side would be resized to 0 pixels."""
    height, width = int(frame.shape[0]), int(frame.shape[1])
    if height < 1 or width < 1:
        raise UnusableImageError(None, f"cannot detect on an empty {width} x {height} image")
    short, long = np.float32(min(height, width)), np.float32(max(height, width))
    scale = float(min(np.float32(size) / short, np.float32(max_size) / long))
    if math.floor(height * scale) < 1 or math.floor(width * scale) < 1:
        raise UnusableImageError(None, f"cannot detect on a {width} x {height} image: resized to the model's input "
                                       f"size ({size}, at most {max_size}) its shorter side would be "
                                       f"0 pixels")
    return scale


def as_bgr_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {frame.dtype}")
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return frame[:, :, :3]
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {frame.shape}")
    return frame
