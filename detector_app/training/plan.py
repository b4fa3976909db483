"""Everything a run needs, gathered and checked before the first step: data, split, classes, parent.

Each problem a user can fix (no reviewed images, a class without examples, a missing image file, an
unreadable parent or checkpoint) becomes a ``TrainingError`` here, before any training starts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection import RetinaNet

from detector_app.core.labels import BACKGROUND
from detector_app.detection.presets import PRESETS, AnchorSizes, build_model
from detector_app.detection.weights import load_model
from detector_app.errors import DetectorAppError, TrainingError
from detector_app.storage import Project
from detector_app.training.checkpoint import load_checkpoint, load_model_state, settings_from_dict
from detector_app.training.data import Sample, build_samples, check_files, resolve_classes, split_samples
from detector_app.training.holdout import is_holdout
from detector_app.training.model_setup import adapt_classes
from detector_app.training.recipe import auto_epochs, fit_anchor_sizes
from detector_app.training.settings import LIGHT_PRESET, TrainSettings
from detector_app.training.versions import load_version

RUNS_DIR = "training_runs"
NUM_ANCHORS = 9  # per location, in every preset


@dataclass
class Parent:
    """The model a run starts from (``model`` None: random weights of ``preset``)."""

    model: RetinaNet | None
    class_names: tuple[str, ...]
    preset: str
    label: str
    version_id: int | None = None
    size: int | None = None  # the input size it was trained at, when known

    @property
    def from_scratch(self) -> bool:
        return self.model is None


@dataclass
class RunPlan:
    settings: TrainSettings
    parent: Parent
    class_names: tuple[str, ...]  # background first
    model: RetinaNet  # ready to train: parent weights, head for class_names
    train: list[Sample]
    val: list[Sample]
    run_id: int | None = None  # set when resuming
    resume_state: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # The project's frozen holdout (reviewed test images): never trained on, the before/after scores use it.
    holdout: list[Sample] = field(default_factory=list)

    @property
    def start_epoch(self) -> int:
        return int(self.resume_state["epoch"]) if self.resume_state else 0

    def split(self) -> dict[str, list[int]]:
        return {"train": [s.image_id for s in self.train], "val": [s.image_id for s in self.val]}


def run_dir(project: Project, run_id: int) -> Path:
    return project.path / RUNS_DIR / f"run_{run_id:04d}"


def reviewed_samples(project: Project) -> list[Sample]:
    """Every reviewed image with its target boxes (rejected and unreviewed predictions left out)."""
    repo = project.repo
    images, after = [], None
    while True:
        page = repo.list_images(state="reviewed", limit=1000, after_id=after)
        if not page:
            break
        images.extend(page)
        after = page[-1].id
    annotations = {img.id: repo.annotations_for_image(img.id, include_rejected=False) for img in images}
    return build_samples(images, annotations)


def resolve_parent(project: Project, settings: TrainSettings) -> Parent:
    spec = settings.parent
    if spec is None:
        active = project.repo.active_model_version()
        spec = active.id if active is not None else "scratch"
    if spec == "scratch":
        preset = settings.preset or LIGHT_PRESET
        if preset not in PRESETS:
            raise TrainingError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
        return Parent(None, (), preset, f"new {preset} (random weights)")
    size = None
    try:
        if isinstance(spec, int):
            loaded = load_version(project, spec)
            size = project.repo.get_model_version(spec).settings.get("size")
        else:
            loaded = load_model(Path(spec) if Path(spec).suffix in (".pth", ".pt") else spec)
    except DetectorAppError as exc:
        raise TrainingError(f"cannot use the parent model: {exc}") from None
    if settings.preset is not None and settings.preset != loaded.preset:
        raise TrainingError(f"the parent model is a {loaded.preset}, not a {settings.preset}; "
                            f"start from scratch to train a new {settings.preset}")
    version_id = spec if isinstance(spec, int) else None
    return Parent(loaded.model, tuple(loaded.class_names), loaded.preset, loaded.name, version_id,
                  int(size) if size else None)


def resolve_defaults(settings: TrainSettings, parent: Parent, train_images: int = 0) -> TrainSettings:
    """Fill freeze level, size and epochs left open; refuse a frozen backbone that was never trained."""
    freeze = settings.freeze or ("all" if parent.from_scratch else "heads")
    if parent.from_scratch and freeze != "all":
        raise TrainingError(f"a new model from scratch must train everything: freeze level {freeze!r} would "
                            "keep a random backbone; choose 'all' or start from a trained model")
    size = settings.size or parent.size or PRESETS[parent.preset].default_size
    epochs = settings.epochs or auto_epochs(train_images, parent.from_scratch)
    return replace(settings, freeze=freeze, size=size, epochs=epochs)


def plan_run(project: Project, settings: TrainSettings) -> RunPlan:
    """A new run: reviewed data, the user's split or a deterministic one, classes checked, parent loaded and
    adapted."""
    samples = reviewed_samples(project)
    train, val = split_samples(samples, settings.val_share, settings.seed)
    parent = resolve_parent(project, settings)
    settings = resolve_defaults(settings, parent, len(train))
    classes = resolve_classes(train, settings.classes, parent.class_names)
    holdout = holdout_samples(samples)
    check_files(train + val + holdout)
    class_names = (BACKGROUND, *classes)
    # A new model's anchors fit its boxes; a fine-tuned one keeps its parent's (its box head learned them).
    anchors = fit_anchor_sizes(train, settings.size) if parent.from_scratch and settings.fit_anchors else None
    model = _start_model(parent, class_names, settings.seed, anchors)
    return RunPlan(replace(settings, classes=classes), parent, class_names, model, train, val, holdout=holdout)


def plan_resume(project: Project, run_id: int, epochs: int | None = None) -> RunPlan:
    """Continue run ``run_id`` from its last checkpoint, with its settings and split."""
    path = run_dir(project, run_id) / "checkpoint.pth"
    state = load_checkpoint(path)
    settings = settings_from_dict(state["settings"], f"checkpoint {path}")
    if epochs is not None:
        settings = replace(settings, epochs=epochs)
    if int(state["epoch"]) >= settings.epochs:
        raise TrainingError(f"run {run_id} already finished its {settings.epochs} epochs; "
                            "give a larger number of epochs to continue it")
    preset, class_names = str(state["preset"]), tuple(state["class_names"])
    if preset not in PRESETS or len(class_names) < 2 or class_names[0] != BACKGROUND:
        raise TrainingError(f"checkpoint of run {run_id} names an unknown preset or no classes ({preset!r})")
    logits = state["model"].get("head.classification_head.cls_logits.weight")
    if logits is None or logits.ndim == 0 or logits.shape[0] != NUM_ANCHORS * len(class_names):
        found = "is missing" if logits is None else f"has shape {tuple(logits.shape)}"
        raise TrainingError(f"weights in the checkpoint of run {run_id} do not match the model: the tensor of the "
                            f"wrong shape is head.classification_head.cls_logits.weight, which {found} while its "
                            f"{len(class_names) - 1} class names need {NUM_ANCHORS * len(class_names)} outputs")
    model = build_model(preset, len(class_names), state.get("anchor_sizes"))
    load_model_state(model, state["model"], f"the checkpoint of run {run_id}")
    by_id = {s.image_id: s for s in reviewed_samples(project)}
    holdout = holdout_samples(by_id.values())
    held = {s.image_id for s in holdout}  # grown since the run began: no longer trained on
    train = [s for s in _pick(by_id.values(), state["split"]["train"]) if s.image_id not in held]
    val = [s for s in _pick(by_id.values(), state["split"]["val"]) if s.image_id not in held]
    resolve_classes(train, class_names[1:])
    check_files(train + val + holdout)
    parent = Parent(None, (), preset, f"run {run_id} (resumed)", state.get("parent_version_id"))
    return RunPlan(settings, parent, class_names, model, train, val, run_id, state, list(state.get("history", [])),
                   holdout)


def holdout_samples(samples: Any) -> list[Sample]:
    """The reviewed images of the frozen holdout (``holdout.is_holdout``), by id."""
    return sorted((s for s in samples if is_holdout(s.split)), key=lambda s: s.image_id)


def _pick(samples: Sequence[Sample] | Any, ids: Sequence[int]) -> list[Sample]:
    wanted = set(int(i) for i in ids)
    return sorted((s for s in samples if s.image_id in wanted), key=lambda s: s.image_id)


def _start_model(parent: Parent, class_names: tuple[str, ...], seed: int,
                 anchors: AnchorSizes | None = None) -> RetinaNet:
    if parent.model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(parent.preset, len(class_names), anchors)
    model = copy.deepcopy(parent.model)
    adapt_classes(model, parent.class_names, class_names)
    return model
