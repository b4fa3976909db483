"""Project storage: one SQLite database per project folder, reached through :class:`Repository`.

The names below are imported on first use (PEP 562): importing one submodule (``storage.models``, ``storage.records``)
does not load the repository, its numpy and image code, or alembic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
