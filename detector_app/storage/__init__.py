"""Project storage: one SQLite database per project folder, reached through :class:`Repository`.

The names below are imported on first use (PEP 562): importing one submodule (``storage.models``, ``storage.records``)
does not load the repository, its numpy and image code, or alembic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detector_app.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from detector_app.storage.project import Project, default_project_path
    from detector_app.storage.records import (
        AnnotationRecord,
        CategoryRecord,
        ImageRecord,
        ModelVersionRecord,
        TrainingRunRecord,
    )
    from detector_app.storage.repository import Repository

# Exported name -> the submodule that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("Project", "default_project_path"), "project"),
    **dict.fromkeys(("AnnotationRecord", "CategoryRecord", "ImageRecord", "ModelVersionRecord", "TrainingRunRecord"),
                    "records"),
    "Repository": "repository",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
