"""Loading and saving detector weights.

Three places a model can come from, in this order of preference for a preset name:
the user's models folder (``app_paths().models``), torchvision's cache (``TORCH_HOME``), and a download
through torchvision's weights API. A path loads a local ``.pth`` file: a bare state dict or one wrapped with
metadata ``{"preset", "class_names", "state_dict"}`` as :func:`save_model` writes it. Every file is read with
``weights_only=True`` so a weight file cannot run code.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models.detection import RetinaNet
from torchvision.ops.misc import FrozenBatchNorm2d

from detector_app.core.labels import BACKGROUND
from detector_app.detection.presets import (
    DEFAULT_PRESET,
    PRESETS,
    build_model,
    coco_class_names,
    model_anchor_sizes,
    replace_classification_head,
)
from detector_app.detection.weights_metadata import WeightsMetadata, check_class_names, read_torch_file
from detector_app.errors import WeightsError
from detector_app.paths import app_paths

log = logging.getLogger(__name__)

# Set to 1 to never try the network (the error then says where to put the file).
OFFLINE_ENV = "DETECTOR_APP_OFFLINE"
PROBE_TIMEOUT_S = 10.0
WEIGHT_SUFFIXES = (".pth", ".pt")


@dataclass
class LoadedModel:
    """A model in eval mode with the class names its labels index (``class_names[0]`` is the background)."""

    model: RetinaNet
    class_names: tuple[str, ...]
    name: str
    preset: str
    weights_path: Path | None = None


@dataclass(frozen=True)
class PretrainedFile:
    """Where a preset's pretrained file lives and how big it is: the facts an offline user needs."""

    preset: str
    file_name: str
    url: str
    size_mb: float

    @property
    def user_path(self) -> Path:
        return app_paths().models / self.file_name

    @property
    def cache_path(self) -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name


def load_model(
    spec: str | Path = DEFAULT_PRESET,
    *,
    class_names: Sequence[str] | None = None,
    weights: str = "default",
    seed: int = 0,
    preset: str | None = None,
) -> LoadedModel:
    """Load a preset (``weights="default"``: pretrained, ``"none"``: random, seeded) or a weight file.

    ``class_names`` (with or without ``"__background__"`` first) gives a custom class list: a pretrained
    preset then gets a fresh classification head sized for it; a file must have that many classes.
    ``preset`` names the architecture of a bare state dict (otherwise it is recognised from its keys).
    """
    names = normalise_class_names(class_names) if class_names else None
    if weights not in ("default", "none"):
        raise WeightsError(f"unknown weights option {weights!r}; use 'default' (pretrained) or 'none' (random)")
    if isinstance(spec, str) and spec in PRESETS:
        if weights == "none":
            return random_model(spec, names or coco_class_names(), seed=seed)
        return pretrained_model(spec, names)
    path = _find_weight_file(spec)
    return load_file(path, class_names=names, preset=preset)


def normalise_class_names(names: Sequence[str]) -> tuple[str, ...]:
    """Class names with the background at index 0, as torchvision's heads count them (checked as a
    file's are: distinct, printable text; one string is refused, not split into letters)."""
    if isinstance(names, Iterable) and not isinstance(names, str | bytes | Mapping):
        names = list(names)
        if not [n for n in names if n != BACKGROUND]:
            raise WeightsError("a model needs at least one class name")
    return check_class_names(names, "class names")


def random_model(preset: str, class_names: Sequence[str], *, seed: int = 0) -> LoadedModel:
    """An untrained model with reproducible weights (same seed, same weights), without touching global RNG."""
    names = normalise_class_names(class_names)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(preset, len(names))
    return LoadedModel(model.eval(), names, f"{preset} (random weights, seed {seed})", preset)


def pretrained_file(preset: str) -> PretrainedFile:
    spec = PRESETS[preset]
    if spec.coco_weights is None:
        raise WeightsError(f"preset {preset!r} has no pretrained weights; train it or choose a weight file")
    url = spec.coco_weights.url  # type: ignore[attr-defined]
    size = float(spec.coco_weights.meta.get("_file_size", 0.0))  # type: ignore[attr-defined]
    return PretrainedFile(preset, os.path.basename(urlparse(url).path), url, size)


def pretrained_model(preset: str, class_names: Sequence[str] | None = None) -> LoadedModel:
    """The preset with COCO weights, built exactly as torchvision builds it for those weights."""
    class_names = normalise_class_names(class_names) if class_names else None
    info = pretrained_file(preset)
    path = _locate_or_download(info)
    state = _read_state_dict(path)
    model = build_model(preset, len(coco_class_names()))
    _match_torchvision_pretrained(model, preset)
    _load_into(model, state, path, preset)
    names = coco_class_names()
    if class_names is not None and tuple(class_names) != names:
        replace_classification_head(model, len(class_names))
        names = tuple(class_names)
    return LoadedModel(model.eval(), names, f"{preset} (COCO)", preset, path)


def load_file(path: Path, *, class_names: Sequence[str] | None = None, preset: str | None = None) -> LoadedModel:
    """A model from a local weight file (bare state dict or :func:`save_model`'s wrapped form)."""
    meta = read_metadata(path)
    state, meta_names = meta.state_dict, meta.class_names
    preset = meta.preset or preset or _guess_preset(state, path)
    if preset not in PRESETS:
        raise WeightsError(f"{path.name}: unknown model preset {preset!r}; known: {', '.join(PRESETS)}")
    num_classes = _num_classes_in(state, path)
    names = _class_names_for(num_classes, class_names, meta_names, path)
    model = build_model(preset, num_classes, meta.anchor_sizes)
    if _is_torchvision_file(path, preset):
        _match_torchvision_pretrained(model, preset)
    _load_into(model, state, path, preset)
    return LoadedModel(model.eval(), names, path.stem, preset, path)


def save_model(path: Path, model: nn.Module, *, preset: str, class_names: Sequence[str]) -> Path:
    """Write ``{"preset", "class_names", "anchor_sizes", "state_dict"}`` atomically; :func:`load_model` reads it
    back (a file without ``anchor_sizes``, from before they were fitted, has torchvision's)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "preset": preset,
        "class_names": list(normalise_class_names(class_names)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if isinstance(model, RetinaNet):
        payload["anchor_sizes"] = [list(level) for level in model_anchor_sizes(model)]
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


# --- locating files --------------------------------------------------------------------------------------


def _find_weight_file(spec: str | Path) -> Path:
    """A path as given, else a file of that name in the user's models folder.

    A path that exists but is no regular file (a folder, a pipe) is returned as it is, so that reading it
    says what is wrong with it instead of "not found".
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    models = app_paths().models
    for candidate in (models / str(spec), *(models / f"{spec}{s}" for s in WEIGHT_SUFFIXES)):
        if candidate.is_file():
            return candidate
    if os.path.lexists(path):
        return path
    if path.suffix.lower() in WEIGHT_SUFFIXES or os.sep in str(spec):
        raise WeightsError(f"weight file not found: {path}")
    raise WeightsError(f"unknown model {str(spec)!r}: not a preset ({', '.join(PRESETS)}) nor a file in {models}")


def _locate_or_download(info: PretrainedFile) -> Path:
    for path in (info.user_path, info.cache_path):
        if path.is_file():
            return path
    return _download(info)


def _download(info: PretrainedFile) -> Path:
    """Fetch into torchvision's cache; any network failure becomes an error saying where to put the file."""
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise WeightsError(_missing_message(info, "offline mode"))
    try:
        # A short probe first: torch.hub's own download has no timeout and can hang on a dead network.
        urllib.request.urlopen(urllib.request.Request(info.url, method="HEAD"), timeout=PROBE_TIMEOUT_S).close()
        info.cache_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s (%.1f MB) to %s", info.url, info.size_mb, info.cache_path)
        torch.hub.download_url_to_file(info.url, str(info.cache_path), hash_prefix=_hash_prefix(info.file_name))
    except (OSError, urllib.error.URLError, RuntimeError) as exc:
        raise WeightsError(_missing_message(info, f"download failed: {_short(exc)}")) from exc
    return info.cache_path


def _missing_message(info: PretrainedFile, why: str) -> str:
    return (
        f"pretrained weights for {info.preset} are not available ({why}): put {info.file_name} "
        f"({info.size_mb:.1f} MB, from {info.url}) in {info.user_path.parent} "
        f"(or torchvision's cache {info.cache_path.parent})"
    )


def _hash_prefix(file_name: str) -> str | None:
    # torchvision names files <name>-<first hex digits of sha256>.pth
    match = re.search(r"-([a-f0-9]{6,})\.", file_name)
    return match.group(1) if match else None


def _short(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        # str() gives "<urlopen error [Errno -3] ...>"; the reason alone reads as the failure it is
        reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
        return "no connection to the download server: " + " ".join(reason.split())[:200]
    return " ".join(str(exc).split())[:200] or type(exc).__name__


# --- reading and checking state dicts --------------------------------------------------------------------


def read_metadata(path: Path) -> WeightsMetadata:
    """A weight file read safely and its metadata checked (bare state dict or :func:`save_model`'s form)."""
    return WeightsMetadata.from_payload(read_torch_file(path), path.name)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    return read_metadata(path).state_dict


def _num_classes_in(state: Mapping[str, torch.Tensor], path: Path) -> int:
    key = "head.classification_head.cls_logits.weight"
    if key not in state:
        raise WeightsError(f"{path.name} is not a RetinaNet checkpoint (no {key})")
    # One output channel per (anchor, class); every preset uses 9 anchors per location.
    num_anchors = 9
    if state[key].ndim != 4:
        raise WeightsError(f"{path.name}: {key} has shape {tuple(state[key].shape)}, not that of a conv layer")
    channels = state[key].shape[0]
    if channels == 0 or channels % num_anchors:
        raise WeightsError(f"{path.name}: classification head has {channels} outputs, not a multiple of 9 anchors")
    return channels // num_anchors


def _class_names_for(
    num_classes: int, given: Sequence[str] | None, stored: Sequence[str] | None, path: Path
) -> tuple[str, ...]:
    names = tuple(given) if given else tuple(stored) if stored else None
    if names is None:
        coco = coco_class_names()
        return coco if num_classes == len(coco) else (BACKGROUND, *(f"class_{i}" for i in range(1, num_classes)))
    if len(names) != num_classes:
        raise WeightsError(
            f"{path.name} has {num_classes - 1} classes but {len(names) - 1} class names were given "
            f"({', '.join(names[1:6])}{', ...' if len(names) > 6 else ''})"
        )
    return names


def _significant_keys(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """Key -> shape, leaving out BatchNorm's step counter, which frozen and plain BatchNorm disagree on."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    return {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}


def _guess_preset(state: Mapping[str, torch.Tensor], path: Path) -> str:
    """The preset whose parameter names match the file's (class count aside)."""
    keys = set(_significant_keys(state))
    num_classes = _num_classes_in(state, path)
    for name in PRESETS:
        with torch.device("meta"):  # shapes only, no memory or init cost
            model = build_model(name, num_classes)
        if set(_significant_keys(model)) == keys:
            return name
    raise WeightsError(
        f"{path.name} does not match any model preset ({', '.join(PRESETS)}): wrong architecture or not a detector"
    )


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, preset: str) -> None:
    """Strict load with a one-line explanation instead of PyTorch's multi-line traceback."""
    expected = _significant_keys(model)
    got = _significant_keys(state)
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if missing or unexpected or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} of another shape (e.g. {k}: {got[k]} in file, {expected[k]} in model)")
        raise WeightsError(f"{path.name} does not fit the {preset} architecture: {'; '.join(detail)} parameters")
    filtered = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    try:
        model.load_state_dict(filtered, strict=False)
    except (RuntimeError, TypeError, ValueError) as exc:  # e.g. a tensor of a type that cannot be copied in
        raise WeightsError(f"{path.name} cannot be loaded into the {preset} model ({_short(exc)})") from None


# --- matching torchvision's pretrained construction ------------------------------------------------------


def _is_torchvision_file(path: Path, preset: str) -> bool:
    weights = PRESETS[preset].coco_weights
    return weights is not None and path.name == pretrained_file(preset).file_name


def _match_torchvision_pretrained(model: RetinaNet, preset: str) -> None:
    """Frozen BatchNorm and frozen early layers, as torchvision builds a model for its COCO weights.

    ``build_model`` makes a from-scratch model (plain BatchNorm, everything trainable); the pretrained
    weights expect frozen statistics, and R50-FPN v1 additionally uses eps=0 (torchvision's overwrite_eps).
    """
    eps = 0.0 if preset == "retinanet_r50_fpn" else 1e-5
    _freeze_batchnorm(model.backbone.body, eps)
    for name, param in model.backbone.body.named_parameters():
        if not name.startswith(("layer2", "layer3", "layer4")):
            param.requires_grad_(False)


def _freeze_batchnorm(module: nn.Module, eps: float) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=eps)
            setattr(module, name, frozen)
        else:
            _freeze_batchnorm(child, eps)
