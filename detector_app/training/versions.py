"""Model versions of a project: weight files under ``<project>/models/``, rows in ``model_versions``.

A version's file is ``weights.save_model``'s state dict with metadata, so ``weights.load_model``
(and therefore the detector) reads it like any other weight file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from detector_app.core.labels import BACKGROUND
from detector_app.detection.weights import LoadedModel, load_model, save_model
from detector_app.errors import DetectorAppError, TrainingError
from detector_app.storage import ModelVersionRecord, Project

MODELS_DIR = "models"


def models_dir(project: Project) -> Path:
    return project.path / MODELS_DIR


def register_version(project: Project, model: nn.Module, *, preset: str, class_names: Sequence[str],
                     parent_id: int | None, settings: Mapping[str, Any], metrics: Mapping[str, Any],
                     name: str | None = None, activate: bool = False) -> ModelVersionRecord:
    """Save ``model`` as ``<project>/models/<name>.pth`` and add its row (default name ``v<id>``).

    ``class_names`` may include the background; the row stores the real classes only.
    """
    classes = [c for c in class_names if c != BACKGROUND]
    repo = project.repo
    record = repo.add_model_version(name or "pending", preset, classes, None, parent_id=parent_id,
                                    metrics=metrics, settings=settings)
    final_name = name or f"v{record.id}"
    path = models_dir(project) / f"{_file_stem(final_name, record.id)}.pth"
    save_model(path, model, preset=preset, class_names=classes)
    repo.update_model_version(record.id, name=final_name, weights_path=path)
    if activate:
        repo.activate_model_version(record.id)
    return repo.get_model_version(record.id)


def activate_version(project: Project, version_id: int) -> ModelVersionRecord:
    """Make ``version_id`` the project's active version (the one the app detects with)."""
    record = project.repo.get_model_version(version_id)
    if record.weights_path is None or not Path(record.weights_path).is_file():
        raise TrainingError(f"model version {record.name} has no weight file ({record.weights_path}); "
                            "it cannot be activated")
    return project.repo.activate_model_version(version_id)


def load_version(project: Project, version_id: int | None = None) -> LoadedModel:
    """A version (the active one when ``version_id`` is None) as a ``LoadedModel`` for
    ``Detector.swap_model``: the running detector switches without a restart."""
    record = _version_record(project, version_id)
    if record.weights_path is None:
        raise TrainingError(f"model version {record.name} has no weight file")
    loaded = load_model(Path(record.weights_path))
    loaded.name = version_label(record)
    return loaded


def version_label(record: ModelVersionRecord) -> str:
    return f"{record.name} ({record.preset})"


def _version_record(project: Project, version_id: int | None) -> ModelVersionRecord:
    if version_id is None:
        active = project.repo.active_model_version()
        if active is None:
            raise TrainingError("the project has no active model version; activate one (train --activate, "
                                "or Model › Project model versions) or name one with --version N")
        return active
    try:
        return project.repo.get_model_version(version_id)
    except DetectorAppError as exc:
        raise TrainingError(str(exc)) from None


def _file_stem(name: str, version_id: int) -> str:
    """A safe file name; the id keeps two versions with the same display name apart."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return stem if stem == f"v{version_id}" else f"v{version_id}_{stem}"
