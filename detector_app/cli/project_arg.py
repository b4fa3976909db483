"""The ``--project`` option shared by the subcommands that work on a project."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detector_app.storage.project import Project


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=Path, default=None,
                        help="project folder (default: the default project in the user data folder)")


def open_project(path: Path | None, create: bool = True) -> Project:
    """``path`` or the default project; ``create=False`` refuses a folder that is not a project yet."""
    from detector_app.storage.project import Project  # here: `--help` should not load SQLAlchemy

    return Project.open(path, create=create)
