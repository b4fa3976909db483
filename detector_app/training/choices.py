"""What a run can start from, and which classes have examples to train on (for the Train dialog)."""

from __future__ import annotations

from dataclasses import dataclass

from detector_app.detection.presets import PRESETS
from detector_app.detection.weights import pretrained_file
from detector_app.storage import Project
from detector_app.training.data import class_counts, split_samples
from detector_app.training.plan import reviewed_samples
from detector_app.training.settings import LIGHT_PRESET, TrainSettings


@dataclass(frozen=True)
class StartChoice:
    label: str
    parent: int | str  # TrainSettings.parent
    preset: str | None
    freeze: str  # sensible default: heads when fine-tuning, all from scratch
    size: int
    ready: bool = True  # False: COCO weights not on this computer (a run would have to download them first)


@dataclass(frozen=True)
class ClassExamples:
    name: str
    boxes: int  # target boxes among reviewed images
    train_boxes: int  # of those, in the training split (what the run needs at least one of)


def coco_weights_present(preset: str) -> bool:
    """The preset's COCO file is in the user's models folder or torchvision's cache (no network)."""
    info = pretrained_file(preset)
    return info.user_path.is_file() or info.cache_path.is_file()


def start_choices(project: Project) -> list[StartChoice]:
    """The active version first, then other versions (newest first), COCO presets, a new light model."""
    versions = sorted(project.repo.model_versions(), key=lambda v: (not v.is_active, -v.id))
    out = [StartChoice(f"{v.name} ({v.preset}){', active' if v.is_active else ''}", v.id, None, "heads",
                       int(v.settings.get("size") or PRESETS[v.preset].default_size)) for v in versions]
    for name, spec in PRESETS.items():
        if spec.coco_weights is None:
            continue
        ready = coco_weights_present(name)
        note = "" if ready else f" (not downloaded: {pretrained_file(name).size_mb:.0f} MB download first)"
        out.append(StartChoice(f"{name}, COCO weights{note}", name, None, "heads", spec.default_size, ready))
    light = PRESETS[LIGHT_PRESET]
    out.append(StartChoice(f"new {LIGHT_PRESET} model (random weights)", "scratch", LIGHT_PRESET, "all",
                           light.default_size))
    return out


def default_choice(choices: list[StartChoice]) -> int:
    """The first start point that works here: a version, COCO weights already on disk, else a new model."""
    return next((i for i, c in enumerate(choices) if c.ready), len(choices) - 1)


def class_examples(project: Project, val_share: float = TrainSettings.val_share,
                   seed: int = TrainSettings.seed) -> list[ClassExamples]:
    """Every class of the project with its boxes, those in the training split first (most first), then the
    classes a run could not train (no box in the training split), split as the run itself splits them."""
    return training_examples(project, val_share, seed)[0]


def training_examples(project: Project, val_share: float = TrainSettings.val_share,
                      seed: int = TrainSettings.seed) -> tuple[list[ClassExamples], int]:
    """``class_examples`` and the number of training images (the run's schedule depends on it)."""
    samples = reviewed_samples(project)
    train_samples, _val = split_samples(samples, val_share, seed)
    total = class_counts(samples)
    train = class_counts(train_samples)
    names = [c.name for c in project.repo.categories()]
    rows = [ClassExamples(n, total[n], train[n]) for n in dict.fromkeys([*names, *total])]
    return sorted(rows, key=lambda r: (-r.train_boxes, -r.boxes, r.name)), len(train_samples)
