"""A model version's scores on the frozen holdout for the correction report: mAP, AP50 and AP by object size,
computed once and kept in the version's ``metrics`` (as ``metrics["after"]`` keeps its training-time score).

The scores are those of ``version_scores.evaluate_version`` (same images: the holdout's reviewed ones; same
classes: the version's classes that the holdout has; same input size: the version's training size), with AP by
size from ``error_analysis.coco_curves``, from one pass of predictions. The cached entry carries a fingerprint of
what was scored (holdout images, their labels, the input size): when the holdout grows or a label on it changes,
the version is scored again. Scoring never trains.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from detector_app.detection.presets import PRESETS
from detector_app.errors import DetectorAppError, TrainingError
from detector_app.storage import ModelVersionRecord, Project
from detector_app.training.data import Sample
from detector_app.training.error_analysis import coco_curves
from detector_app.training.evaluate import coco_metrics, predict_samples
from detector_app.training.model_setup import pick_device
from detector_app.training.versions import load_version

CACHE_KEY = "holdout_scores"  # in model_versions.metrics


@dataclass(frozen=True)
class HoldoutScores:
    """COCO box AP in [0, 1] on ``images`` holdout images; an AP by size is None where no box of that size is."""

    map: float
    ap50: float
    ap_small: float | None
    ap_medium: float | None
    ap_large: float | None
    images: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HoldoutScores:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def eval_size(record: ModelVersionRecord) -> int:
    """The version's training size (the preset's default when unknown), as ``evaluate_version`` uses it."""
    preset = PRESETS.get(record.preset)
    return int(record.settings.get("size") or (preset.default_size if preset else 0))


def fingerprint(samples: Sequence[Sample], size: int) -> str:
    """What a score depends on besides the weights: the images, their labels and the input size."""
    data = [[s.image_id, s.width, s.height, [round(float(v), 2) for v in s.boxes.flatten()], list(s.labels)]
            for s in samples]
    return hashlib.sha256(json.dumps([size, data]).encode()).hexdigest()[:16]


def score_version(project: Project, record: ModelVersionRecord, samples: Sequence[Sample],
                  device: str = "auto") -> HoldoutScores:
    """Run the version on ``samples`` (the holdout) and score it: one pass of predictions for every number."""
    loaded = load_version(project, record.id)
    classes = [c for c in loaded.class_names[1:] if any(c in s.labels for s in samples)]
    if not samples or not classes:
        raise TrainingError(f"nothing to score {record.name} on: no holdout image has boxes of its classes")
    dev = pick_device(device)
    predictions = predict_samples(loaded.model.to(dev), loaded.class_names, samples, eval_size(record), dev)
    assert predictions is not None  # nothing stops it
    result = coco_metrics(samples, predictions, classes)
    _, sizes = coco_curves(samples, predictions, classes)
    return HoldoutScores(result.map, result.ap50, sizes["small"], sizes["medium"], sizes["large"], len(samples))


def cached_scores(record: ModelVersionRecord, samples: Sequence[Sample]) -> HoldoutScores | None:
    """The stored scores when they were computed on this very holdout, else None."""
    entry = record.metrics.get(CACHE_KEY)
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(samples, eval_size(record)):
        return None
    try:
        return HoldoutScores.from_dict(entry)
    except (KeyError, TypeError):  # an entry edited by hand: score again
        return None


def version_scores(project: Project, record: ModelVersionRecord, samples: Sequence[Sample],
                   device: str = "auto", evaluate: bool = True) -> tuple[HoldoutScores | None, str]:
    """The version's holdout scores (cached, else computed and cached when ``evaluate``) and, when there are
    none, why."""
    if not samples:
        return None, "no holdout"
    if (found := cached_scores(record, samples)) is not None:
        return found, ""
    if not evaluate:
        return None, "not scored on this holdout yet"
    try:
        scores = score_version(project, record, samples, device)
    except DetectorAppError as exc:
        return None, str(exc)
    if not project.repo.read_only:
        entry = {**scores.to_dict(), "fingerprint": fingerprint(samples, eval_size(record))}
        project.repo.update_model_version(record.id, metrics={**record.metrics, CACHE_KEY: entry})
    return scores, ""
