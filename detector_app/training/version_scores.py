"""A project's model version scored on the validation split of the run that trained it.

Kept apart from ``evaluate``, which needs only a model and samples: this module reads the project.
"""

from __future__ import annotations

from typing import Any

from detector_app.detection.presets import PRESETS
from detector_app.errors import TrainingError
from detector_app.training.evaluate import evaluate_model
from detector_app.training.events import EvalResult
from detector_app.training.model_setup import pick_device
from detector_app.training.plan import reviewed_samples
from detector_app.training.versions import load_version


def evaluate_version(project: Any, version_id: int | None = None, size: int | None = None,
                     device: str = "auto") -> EvalResult:
    """Score a model version (the active one by default) on the validation split of the run that
    trained it, or on every reviewed image when it came from elsewhere."""
    loaded = load_version(project, version_id)
    record = project.repo.get_model_version(version_id) if version_id else project.repo.active_model_version()
    samples = reviewed_samples(project)
    run_id = record.settings.get("run_id")
    if run_id is not None:
        val_ids = set(project.repo.get_training_run(int(run_id)).settings.get("split", {}).get("val", []))
        samples = [s for s in samples if s.image_id in val_ids] or samples
    classes = [c for c in loaded.class_names[1:] if any(c in s.labels for s in samples)]
    if not samples or not classes:
        raise TrainingError(f"nothing to evaluate {record.name} on: no reviewed image has boxes of its classes "
                            f"({', '.join(loaded.class_names[1:6])})")
    size = size or int(record.settings.get("size") or PRESETS[loaded.preset].default_size)
    dev = pick_device(device)
    result = evaluate_model(loaded.model.to(dev), loaded.class_names, samples, classes, size, dev)
    assert result is not None
    return result
