"""Project storage: one SQLite database per project folder, reached through :class:`Repository`."""

from detector_app.storage.project import Project, default_project_path
from detector_app.storage.records import (
    AnnotationRecord,
    CategoryRecord,
    ImageRecord,
    ModelVersionRecord,
    TrainingRunRecord,
)
from detector_app.storage.repository import Repository

__all__ = [
    "AnnotationRecord",
    "CategoryRecord",
    "ImageRecord",
    "ModelVersionRecord",
    "Project",
    "Repository",
    "TrainingRunRecord",
    "default_project_path",
]
