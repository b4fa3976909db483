"""A project's model version scored on the frozen holdout (``holdout``), or, in a project without one, on the
validation split of the run that trained it; and the check made before a version is activated.

Kept apart from ``evaluate``, which needs only a model and samples: this module reads the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detector_app.detection.presets import PRESETS
from detector_app.errors import TrainingError
from detector_app.training.evaluate import evaluate_model
from detector_app.training.events import EvalResult
from detector_app.training.model_setup import pick_device
from detector_app.training.plan import holdout_samples, reviewed_samples
from detector_app.training.versions import activate_version, load_version


def evaluate_version(project: Any, version_id: int | None = None, size: int | None = None,
                     device: str = "auto") -> EvalResult:
    """Score a model version (the active one by default) on the project's holdout; in a project without one
    (as before the holdout existed) on the validation split of the run that trained it, or on every reviewed
    image when it came from elsewhere."""
    loaded = load_version(project, version_id)
    record = project.repo.get_model_version(version_id) if version_id else project.repo.active_model_version()
    samples = reviewed_samples(project)
    run_id = record.settings.get("run_id")
    if holdout := holdout_samples(samples):
        samples = holdout
    elif run_id is not None:
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


@dataclass(frozen=True)
class ActivationCheck:
    """A version against the active one on the holdout, before it is activated."""

    version_id: int
    active_id: int | None
    version_map: float | None
    active_map: float | None
    on_holdout: bool  # False: the project has no holdout, nothing was compared

    @property
    def worse(self) -> bool:
        """The flag: the version scores below the active one on the holdout."""
        return (self.on_holdout and self.version_map is not None and self.active_map is not None
                and self.version_map < self.active_map)

    def message(self, names: dict[int, str]) -> str:
        if not self.on_holdout:
            return "no holdout: the version was not compared with the active one (detector-app holdout chooses one)"
        if self.active_id is None or self.active_id == self.version_id:
            return f"{names.get(self.version_id, self.version_id)}: holdout mAP {self.version_map:.3f}"
        verdict = "BELOW" if self.worse else "not below"
        return (f"{names.get(self.version_id, self.version_id)} holdout mAP {self.version_map:.3f} is {verdict} the "
                f"active {names.get(self.active_id, self.active_id)}'s {self.active_map:.3f}")


def check_activation(project: Any, version_id: int, device: str = "auto") -> ActivationCheck:
    """Score ``version_id`` and the active version on the holdout now (the holdout may have grown since either
    was trained); ``worse`` flags a version that would lower the holdout mAP."""
    active = project.repo.active_model_version()
    if not holdout_samples(reviewed_samples(project)):
        return ActivationCheck(version_id, active.id if active else None, None, None, False)
    score = evaluate_version(project, version_id, device=device).map
    if active is None or active.id == version_id:
        return ActivationCheck(version_id, active.id if active else None, score, None, True)
    return ActivationCheck(version_id, active.id, score, evaluate_version(project, active.id, device=device).map, True)


def activate_checked(project: Any, version_id: int, force: bool = False, device: str = "auto") -> ActivationCheck:
    """Activate ``version_id`` unless it scores below the active version on the holdout (then only with
    ``force``: a deliberate rollback). Returns the check either way; the caller prints it."""
    check = check_activation(project, version_id, device)
    if not check.worse or force:
        activate_version(project, version_id)
    return check
