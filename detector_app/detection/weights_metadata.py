"""The one check of what a weight file or a training checkpoint says about itself.

Everything in such a file is data from outside: ``preset`` may be a list, ``class_names`` an int or one
string, a state dict a single tensor. :meth:`WeightsMetadata.from_payload` turns a loaded payload into a
small frozen record or raises one clear line (the error class the caller names), never a ``TypeError``.
:func:`read_torch_file` is the one way such a file is read: a regular, non-empty file, ``weights_only``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from detector_app.core.labels import BACKGROUND
from detector_app.core.names import class_list_problem, clip, describe
from detector_app.detection.presets import PRESETS
from detector_app.errors import DetectorAppError, WeightsError

UNUSED_ID = "N/A"  # torchvision's COCO names mark unused category ids with it, so it may repeat
MAX_CLASSES = 5000  # far above any detector head; a longer list is junk, refused before it is used

ErrorType = type[DetectorAppError]


def check_preset(value: object, source: str, error: ErrorType = WeightsError) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise error(f"{source}: preset must be a model preset name, not {describe(value)}")
    if value not in PRESETS:
        raise error(f"{source}: unknown model preset {clip(value)}; known: {', '.join(PRESETS)}")
    return value


def check_class_names(value: object, source: str, error: ErrorType = WeightsError) -> tuple[str, ...]:
    """A list of distinct names (each by the app's one name rule, ``core.names``) -> the names with
    ``__background__`` first (added if absent). One string is refused, never split into characters."""
    if (problem := class_list_problem(value)) is not None:
        raise error(f"{source}: {problem}")
    assert isinstance(value, list | tuple)
    if len(value) > MAX_CLASSES + 1:
        raise error(f"{source}: class_names lists {len(value)} names; at most {MAX_CLASSES} classes are supported")
    names = tuple(value)
    if names and names[0] == BACKGROUND:
        names = names[1:]
    if BACKGROUND in names:
        raise error(f"{source}: {BACKGROUND} may only be the first class name")
    if not names:
        raise error(f"{source}: class_names lists no classes")
    seen: set[str] = set()
    for name in names:
        if name in seen and name != UNUSED_ID:
            raise error(f"{source}: class name {clip(name)} appears more than once")
        seen.add(name)
    return (BACKGROUND, *names)


def check_state_dict(value: object, source: str, error: ErrorType = WeightsError,
                     what: str = "state_dict") -> dict[str, torch.Tensor]:
    """A non-empty mapping of parameter name -> tensor."""
    if isinstance(value, torch.Tensor):
        raise error(f"{source} does not hold a model state dict: {what} is a single tensor of shape "
                    f"{tuple(value.shape)}, not named tensors")
    if not isinstance(value, Mapping):
        raise error(f"{source} does not hold a model state dict ({what} is {describe(value)})")
    if not value:
        raise error(f"{source} does not hold a model state dict ({what} is empty)")
    for key, tensor in value.items():
        if not isinstance(key, str):
            raise error(f"{source} does not hold a model state dict ({what} has a key that is {describe(key)})")
        if not isinstance(tensor, torch.Tensor):
            raise error(f"{source} does not hold a model state dict ({what} entry {clip(key, 60)} is "
                        f"{describe(tensor)}, not a tensor)")
    return dict(value)


def check_anchor_sizes(value: object, source: str, error: ErrorType = WeightsError) -> tuple[tuple[float, ...], ...] | None:
    """None, or 5 levels (P3-P7) of 3 positive sizes in pixels (``presets.anchor_sizes_from``)."""
    if value is None:
        return None
    levels = value if isinstance(value, list | tuple) else None
    if levels is None or len(levels) != 5 or not all(isinstance(level, list | tuple) and len(level) == 3
                                                     for level in levels):
        raise error(f"{source}: anchor_sizes must be 5 levels of 3 sizes, not {describe(value)}")
    sizes = []
    for level in levels:
        if not all(isinstance(x, int | float) and not isinstance(x, bool) and 1 <= x <= 4096 for x in level):
            raise error(f"{source}: anchor_sizes must be numbers between 1 and 4096 pixels, not {describe(level)}")
        sizes.append(tuple(float(x) for x in level))
    return tuple(sizes)


def check_int(value: object, source: str, what: str, error: ErrorType, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{source}: {what} must be a whole number, not {describe(value)}")
    if value < minimum:
        raise error(f"{source}: {what} must be at least {minimum}, not {value}")
    return value


def check_dict(value: object, source: str, what: str, error: ErrorType) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise error(f"{source}: {what} must be a dict, not {describe(value)}")
    return dict(value)


@dataclass(frozen=True)
class WeightsMetadata:
    """A file's weights and what it says about them: ``preset`` and ``class_names`` (background first)
    are None when the file does not say (a bare state dict)."""

    state_dict: dict[str, torch.Tensor]
    preset: str | None = None
    class_names: tuple[str, ...] | None = None
    # The anchors the model was trained with (fitted to its labels); None: the preset's (torchvision's).
    anchor_sizes: tuple[tuple[float, ...], ...] | None = None

    @classmethod
    def from_payload(cls, payload: object, source: str, *, error: ErrorType = WeightsError,
                     state_key: str = "state_dict", require_metadata: bool = False) -> WeightsMetadata:
        """Check a loaded payload: a bare state dict, or a dict with ``state_key``, ``preset`` and
        ``class_names`` (``require_metadata``: the latter two must be present, as in a checkpoint)."""
        if isinstance(payload, torch.Tensor):
            raise error(f"{source} holds a single tensor of shape {tuple(payload.shape)}, not a model state dict")
        if not isinstance(payload, Mapping):
            raise error(f"{source} does not hold a model state dict (it holds {describe(payload)})")
        if state_key not in payload:
            if require_metadata:
                raise error(f"{source} has no {state_key!r} entry with the model's weights")
            return cls(check_state_dict(payload, source, error, what="the file"))
        state = check_state_dict(payload[state_key], source, error, what=state_key)
        preset = check_preset(payload.get("preset"), source, error)
        names_value = payload.get("class_names")
        names = None if names_value is None else check_class_names(names_value, source, error)
        if require_metadata and (preset is None or names is None):
            missing = "preset" if preset is None else "class_names"
            raise error(f"{source} does not say which model it holds (no {missing})")
        return cls(state, preset, names, check_anchor_sizes(payload.get("anchor_sizes"), source, error))

    @classmethod
    def from_dict(cls, data: object, source: str, **kwargs: Any) -> WeightsMetadata:
        return cls.from_payload(data, source, **kwargs)


# --- reading a torch file ----------------------------------------------------------------------------------


def read_torch_file(path: Path, error: ErrorType = WeightsError, what: str = "weight file",
                    label: str | None = None) -> object:
    """``torch.load(weights_only=True)`` of a regular, non-empty file; every failure is one line.

    ``label`` names the file in messages (default: its name).
    """
    path = Path(path)
    label = label or path.name
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path} is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a regular file (a pipe, socket or device), so it is not a {what}")
    if info.st_size == 0:
        raise error(f"{label} {_unreadable(what)}: it is empty (0 bytes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except MemoryError:
        raise error(f"{label} is too large to load into memory") from None
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise error(_load_failure(label, exc, what)) from None


def _unreadable(what: str) -> str:
    return "is corrupt or not a checkpoint" if what == "checkpoint" else f"is not a readable {what}"


# What torch's weights_only unpickler (torch/_weights_only_unpickler.py) says when it refuses a pickle
# instruction or an object, wording by wording: each is a refusal of something that could run code.
_REFUSED_GLOBAL = (
    re.compile(r"Unsupported global: GLOBAL ([\w.]+)"),
    re.compile(r"unsupported GLOBAL ([\w.]+) whose module [\w.]+ is blocked", re.IGNORECASE),
)
_REFUSALS = (
    "unsupported global",  # a global neither allowed by default nor allowlisted
    "is blocked",  # a global from a blocklisted module (os, posix, subprocess, sys, ...)
    "call reduce for unrecognized function",
    "can only create new object",
    "can only build tensor",
    "can only append to lists",
    "can only setitems for dict",  # torch <2.6 wording
    "only persistent_load of storage",
    "persistent_load id must be",
    "unsupported persistent id",
    "must be imported to load",  # nested jagged tensors, DTensors: objects outside plain tensors
)
# Pickle instructions that import or build Python objects by name, or framing of protocol 4+ (which the
# weights_only unpickler does not read): "Unsupported operand N" for these is a refusal, not damage.
_RISKY_OPCODES = {0x93: "STACK_GLOBAL", ord("i"): "INST", ord("o"): "OBJ", 0x92: "NEWOBJ_EX",
                  0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x95: "FRAME"}


def _refused_global(text: str) -> str | None:
    for pattern in _REFUSED_GLOBAL:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


def _refusal(text: str) -> str | None:
    """None when ``text`` is no weights_only refusal; else what was refused (may be empty)."""
    if "Weights only load failed" not in text and "WeightsUnpickler error" not in text:
        return None
    name = _refused_global(text)
    if name is not None:
        return f"; it names {clip(name, 80)}"
    lowered = text.lower()
    if any(marker in lowered for marker in _REFUSALS):
        return ""
    match = re.search(r"Unsupported operand (\d+)", text)
    if match and int(match.group(1)) in _RISKY_OPCODES:
        return f"; it uses the pickle instruction {_RISKY_OPCODES[int(match.group(1))]}"
    return None


def _load_failure(label: str, exc: BaseException, what: str) -> str:
    text = str(exc)
    bad = _unreadable(what)
    refused = _refusal(text)
    if refused is not None:
        return (f"{label} was refused as unsafe: it contains Python objects that could run code when loaded, "
                f"so it was not loaded (only plain tensors and metadata are accepted{refused})")
    if "Weights only load failed" in text:  # a pickle it cannot even parse: garbage, or an unknown opcode
        return f"{label} {bad}: it is not a PyTorch file, or it is damaged"
    if "zip archive" in text or "central directory" in text or isinstance(exc, EOFError):
        return f"{label} {bad}: it is truncated or damaged"
    if "inline_container" in text or "archive" in text:
        return f"{label} {bad}: it is a zip archive but not a PyTorch file"
    first = clip(" ".join(text.split()), 160) if text.strip() else type(exc).__name__
    return f"{label} {bad} ({first})"
