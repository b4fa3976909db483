"""Runs ``detector-app holdout`` (arguments in :mod:`detector_app.cli.holdout_cmd`); no torch."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import open_project
from detector_app.core.names import printable
from detector_app.training.holdout import ensure_holdout, format_holdout, grow_holdout


def run(args: argparse.Namespace) -> int:
    with open_project(args.project, create=False) as project:
        if args.grow is not None:
            holdout = grow_holdout(project.repo, args.grow, args.seed)
        else:
            holdout = ensure_holdout(project.repo, args.seed)
        print(printable(format_holdout(holdout), multiline=True))
    return 0
