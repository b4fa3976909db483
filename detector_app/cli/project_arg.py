"""The ``--project`` option shared by the subcommands that work on a project.

``--project`` names a project folder, or a team project's PostgreSQL URL; then ``--media-root`` (or the
DETECTOR_APP_MEDIA_ROOT environment variable) gives this machine's path of its media folder. ``--annotator``
(commands that change a project) names who the edits are recorded for.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector_app.storage.project import Project


@dataclass(frozen=True)
class TeamProject:
    """A ``--project`` given as a database URL, with the ``--media-root`` given with it (if any)."""

    url: str
    media_root: Path | None = None

    def __str__(self) -> str:  # what error messages show: never the password
        from detector_app.storage.postgres import display_url

        return display_url(self.url)


def _is_url(value: str) -> bool:
    return "://" in value


class _ProjectAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        value = str(values)
        media_root = getattr(namespace, "media_root", None)
        setattr(namespace, self.dest, TeamProject(value, media_root) if _is_url(value) else Path(value))


class _MediaRootAction(argparse.Action):
    """Kept on the namespace, and joined to a URL given before it (order on the command line is free)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        root = Path(str(values))
        setattr(namespace, self.dest, root)
        project = getattr(namespace, "project", None)
        if isinstance(project, TeamProject):
            namespace.project = TeamProject(project.url, root)


class _AnnotatorAction(argparse.Action):
    """Checked here (a bad name is a usage error), then this process's annotator: it sets
    $DETECTOR_APP_ANNOTATOR, which the repository's default (storage/identity.py) and any worker processes read."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        from detector_app.core.names import InvalidNameError  # here: light, but only when the option is given
        from detector_app.storage.identity import ANNOTATOR_ENV, check_annotator

        try:
            name = check_annotator(str(values))
        except InvalidNameError as exc:
            parser.error(f"--annotator: {exc}")
        os.environ[ANNOTATOR_ENV] = name
        setattr(namespace, self.dest, name)


def add_project_argument(parser: argparse.ArgumentParser, edits: bool = True) -> None:
    parser.add_argument("--project", action=_ProjectAction, default=None, metavar="FOLDER|URL",
                        help="project folder (default: the default project in the user data folder), or a team "
                             "project's database URL, postgresql+psycopg://USER:PASSWORD@HOST[:PORT]/DATABASE")
    parser.add_argument("--media-root", action=_MediaRootAction, default=None, metavar="FOLDER",
                        help="with a database URL: this machine's path of the team's shared media folder "
                             "(default: $DETECTOR_APP_MEDIA_ROOT)")
    if edits:
        parser.add_argument("--annotator", action=_AnnotatorAction, default=None, metavar="NAME",
                            help="who the edits are recorded for (default: $DETECTOR_APP_ANNOTATOR, else your "
                                 "user name)")


def open_project(path: Path | TeamProject | None, create: bool = True) -> Project:
    """``path`` or the default project; ``create=False`` refuses a folder that is not a project yet."""
    from detector_app.storage.project import Project  # here: `--help` should not load SQLAlchemy

    if isinstance(path, TeamProject):
        return Project.open(path.url, create=create, media_root=path.media_root)
    return Project.open(path, create=create)
