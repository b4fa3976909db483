"""Which model the app runs, from the remembered settings, and building its Detector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

from detector_app.detection.preset_names import DEFAULT_PRESET, PRESET_NAMES

if TYPE_CHECKING:
    from detector_app.detection.detector import Detector, DetectorConfig
    from detector_app.storage.project import Project


@dataclass(frozen=True)
class ModelChoice:
    preset: str = DEFAULT_PRESET
    weights: str = "default"  # "default" (pretrained) or "none" (untrained, for trying the app)
    file: Path | None = None  # a weights file the user picked
    version_id: int | None = None  # a model version of the open project
    plugin: str | None = None  # a detector plugin's name

    @property
    def label(self) -> str:
        if self.plugin is not None:
            return f"plugin {self.plugin}"
        if self.version_id is not None:
            return f"version {self.version_id}"
        return self.file.name if self.file else self.preset

    @property
    def untrained(self) -> bool:
        """Random weights of a preset: what "Use untrained weights" stands for (they find no objects)."""
        return self.weights == "none" and self.plugin is None and self.version_id is None and self.file is None

    @classmethod
    def from_settings(cls, settings: QSettings, project: Project | None) -> ModelChoice:
        preset = str(settings.value("model/preset", DEFAULT_PRESET))
        version = settings.value("model/version")
        weights = str(settings.value("model/weights", "default"))
        # The project's active version runs unless another version or untrained weights were chosen.
        if project is not None and version in (None, "") and weights != "none":
            active = project.repo.active_model_version()
            version = active.id if active is not None else None
        file = settings.value("model/file")
        return cls(plugin=settings.value("model/plugin") or None,
                   preset=preset if preset in PRESET_NAMES else DEFAULT_PRESET,
                   weights=weights,
                   file=Path(file) if file else None,
                   version_id=_version_id(version))


def _version_id(value: object) -> int | None:
    """The remembered version id; anything else a settings file may hold means none."""
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def build_detector(choice: ModelChoice, config: DetectorConfig, project: Project | None) -> Detector:
    """Runs on a worker thread: loading R50 weights takes a second or two."""
    # Imported here, on the loader thread: torch and torchvision take seconds to import.
    from detector_app.detection.detector import Detector
    from detector_app.detection.weights import load_model

    if choice.plugin is not None:
        from detector_app.plugins_api.detectors import create_detector

        return create_detector(f"plugin:{choice.plugin}", config)
    if choice.version_id is not None and project is not None:
        from detector_app.training.versions import load_version

        loaded = load_version(project, choice.version_id)
    elif choice.file is not None:
        loaded = load_model(choice.file)
    else:
        loaded = load_model(choice.preset, weights=choice.weights)
    return Detector(loaded, config)
