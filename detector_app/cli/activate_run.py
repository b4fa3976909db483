"""Runs ``detector-app activate`` (arguments in :mod:`detector_app.cli.activate_cmd`); loads torch to score."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import open_project
from detector_app.core.names import printable
from detector_app.training.version_scores import ActivationCheck, activate_checked


def run(args: argparse.Namespace) -> int:
    with open_project(args.project, create=False) as project:
        check = activate_checked(project, args.version, force=args.force, device=args.device)
        print(printable(describe(project, check, args.version, forced=args.force)))
        return 1 if check.worse and not args.force else 0


def describe(project: object, check: ActivationCheck, version_id: int, forced: bool) -> str:
    """The check's line, then what happened (shared with ``train --activate``)."""
    repo = project.repo  # type: ignore[attr-defined]
    names = {v.id: v.name for v in repo.model_versions()}
    if check.worse and not forced:
        return (f"{check.message(names)}: not activated; activate it anyway with "
                f"detector-app activate --version {version_id} --force")
    return f"{check.message(names)}; {names[version_id]} is now the active version"
