"""Model versions and training runs of a project."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from detector_app.core.labels import BACKGROUND
from detector_app.core.names import class_list_problem, describe
from detector_app.errors import StorageError
from detector_app.storage.models import ModelVersion, TrainingRun, utcnow
from detector_app.storage.records import ModelVersionRecord, TrainingRunRecord
from detector_app.storage.sessions import ProjectDatabase


class ModelStore(ProjectDatabase):
    """Model versions (one active at a time) and the training runs that made them."""

    # --- model versions ---------------------------------------------------------------------------

    def add_model_version(self, name: str, preset: str, class_names: Sequence[str],
                          weights_path: str | Path | None = None, *, parent_id: int | None = None,
                          metrics: Mapping[str, Any] | None = None, settings: Mapping[str, Any] | None = None,
                          activate: bool = False) -> ModelVersionRecord:
        with self.transaction() as s:
            version = ModelVersion(
                name=name, preset=preset, class_names=list(class_names), parent_id=parent_id,
                weights_path=self.stored_path(weights_path) if weights_path is not None else None,
                metrics=dict(metrics or {}), settings=dict(settings or {}), is_active=False, created_at=utcnow())
            s.add(version)
            s.flush()
            if activate:
                _activate(s, version.id)
            version_id = version.id
        return self.get_model_version(version_id)

    def model_versions(self) -> list[ModelVersionRecord]:
        with self.reading() as s:
            return [self._model_record(v) for v in s.scalars(select(ModelVersion).order_by(ModelVersion.id))]

    def get_model_version(self, version_id: int) -> ModelVersionRecord:
        with self.reading() as s:
            version = s.get(ModelVersion, version_id)
            if version is None:
                raise StorageError(f"model version {version_id} is not in the project")
            return self._model_record(version)

    def activate_model_version(self, version_id: int) -> ModelVersionRecord:
        """Make ``version_id`` the one active version."""
        with self.transaction() as s:
            if s.get(ModelVersion, version_id) is None:
                raise StorageError(f"model version {version_id} is not in the project")
            _activate(s, version_id)
        return self.get_model_version(version_id)

    def active_model_version(self) -> ModelVersionRecord | None:
        with self.reading() as s:
            version = s.scalars(select(ModelVersion).where(ModelVersion.is_active.is_(True))).first()
            return self._model_record(version) if version is not None else None

    def update_model_version(self, version_id: int, *, name: str | None = None,
                             metrics: Mapping[str, Any] | None = None,
                             weights_path: str | Path | None = None) -> ModelVersionRecord:
        with self.transaction() as s:
            version = s.get(ModelVersion, version_id)
            if version is None:
                raise StorageError(f"model version {version_id} is not in the project")
            if name is not None:
                version.name = name
            if metrics is not None:
                version.metrics = dict(metrics)
            if weights_path is not None:
                version.weights_path = self.stored_path(weights_path)
        return self.get_model_version(version_id)

    # --- training runs ----------------------------------------------------------------------------

    def add_training_run(self, settings: Mapping[str, Any], status: str = "running") -> TrainingRunRecord:
        with self.transaction() as s:
            run = TrainingRun(settings=dict(settings), status=status, log="", metrics={}, created_at=utcnow())
            s.add(run)
            s.flush()
            run_id = run.id
        return self.get_training_run(run_id)

    def update_training_run(self, run_id: int, *, status: str | None = None, append_log: str | None = None,
                            metrics: Mapping[str, Any] | None = None, model_version_id: int | None = None,
                            finished: bool = False) -> TrainingRunRecord:
        with self.transaction() as s:
            run = s.get(TrainingRun, run_id)
            if run is None:
                raise StorageError(f"training run {run_id} is not in the project")
            if status is not None:
                run.status = status
            if append_log:
                run.log = run.log + append_log
            if metrics is not None:
                run.metrics = dict(metrics)
            if model_version_id is not None:
                run.model_version_id = model_version_id
            if finished:
                run.finished_at = utcnow()
        return self.get_training_run(run_id)

    def get_training_run(self, run_id: int) -> TrainingRunRecord:
        with self.reading() as s:
            run = s.get(TrainingRun, run_id)
            if run is None:
                raise StorageError(f"training run {run_id} is not in the project")
            return _training_record(run)

    def training_runs(self) -> list[TrainingRunRecord]:
        with self.reading() as s:
            return [_training_record(r) for r in s.scalars(select(TrainingRun).order_by(TrainingRun.id))]

    def _model_record(self, v: ModelVersion) -> ModelVersionRecord:
        """The row as a record, checked like a weight file's metadata: a row edited by hand (``class_names`` one
        string, ``preset`` a number, ``metrics`` a list) is one clear StorageError, never split or a crash."""
        source = f"model version {v.id} in the project database"
        if not isinstance(v.name, str):
            raise StorageError(f"{source}: name must be text, not {describe(v.name)}")
        if not isinstance(v.preset, str):
            raise StorageError(f"{source}: preset must be a model preset name, not {describe(v.preset)}")
        _check_class_names(v.class_names, source)
        if v.weights_path is not None and not isinstance(v.weights_path, str):
            raise StorageError(f"{source}: weights_path must be text, not {describe(v.weights_path)}")
        metrics = _check_dict(v.metrics, source, "metrics")
        settings = _check_dict(v.settings, source, "settings")
        return ModelVersionRecord(
            id=v.id, name=v.name, preset=v.preset, class_names=tuple(v.class_names),
            weights_path=self.absolute_path(v.weights_path) if v.weights_path else None, parent_id=v.parent_id,
            metrics=metrics, settings=settings, is_active=bool(v.is_active), created_at=v.created_at)


# A row is data from outside too (anyone may edit project.db): the same rules as a weight file's metadata
# (detection.weights_metadata, which storage may not import: torch), one clear StorageError per odd value.


def _check_class_names(value: object, source: str) -> None:
    if (problem := class_list_problem(value)) is not None:
        raise StorageError(f"{source}: {problem}")
    if not [name for name in value if name != BACKGROUND]:  # type: ignore[union-attr]  # a list, checked above
        raise StorageError(f"{source}: class_names lists no classes")


def _check_dict(value: object, source: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StorageError(f"{source}: {what} must be a dict, not {describe(value)}")
    return dict(value)


def _training_record(r: TrainingRun) -> TrainingRunRecord:
    source = f"training run {r.id} in the project database"
    return TrainingRunRecord(id=r.id, settings=_check_dict(r.settings, source, "settings"), status=r.status,
                             log=r.log, metrics=_check_dict(r.metrics, source, "metrics"),
                             model_version_id=r.model_version_id, created_at=r.created_at, finished_at=r.finished_at)


def _activate(s: Session, version_id: int) -> None:
    # Clear first: the partial unique index allows only one row with is_active = 1 at any moment.
    s.execute(update(ModelVersion).where(ModelVersion.is_active.is_(True)).values(is_active=False))
    s.execute(update(ModelVersion).where(ModelVersion.id == version_id).values(is_active=True))
