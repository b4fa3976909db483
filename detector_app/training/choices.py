"""What a run can start from, and how many boxes each class has to train on (for the Train dialog)."""

from __future__ import annotations

from dataclasses import dataclass

from detector_app.detection.presets import PRESETS
from detector_app.storage import Project
from detector_app.training.data import class_counts
from detector_app.training.plan import reviewed_samples
from detector_app.training.settings import LIGHT_PRESET


@dataclass(frozen=True)
class StartChoice:
    label: str
    parent: int | str  # TrainSettings.parent
    preset: str | None
    freeze: str  # sensible default: heads when fine-tuning, all from scratch
    size: int


def start_choices(project: Project) -> list[StartChoice]:
    """The active version first, then other versions (newest first), COCO presets, a new light model."""
    versions = sorted(project.repo.model_versions(), key=lambda v: (not v.is_active, -v.id))
    out = [StartChoice(f"{v.name} ({v.preset}){', active' if v.is_active else ''}", v.id, None, "heads",
                       int(v.settings.get("size") or PRESETS[v.preset].default_size)) for v in versions]
    out += [StartChoice(f"{name}, COCO weights", name, None, "heads", spec.default_size)
            for name, spec in PRESETS.items() if spec.coco_weights is not None]
    light = PRESETS[LIGHT_PRESET]
    out.append(StartChoice(f"new {LIGHT_PRESET} model (random weights)", "scratch", LIGHT_PRESET, "all",
                           light.default_size))
    return out


def trainable_class_counts(project: Project) -> dict[str, int]:
    """Target boxes per class among reviewed images, most first."""
    return dict(class_counts(reviewed_samples(project)).most_common())
