"""Runs ``detector-app export`` (arguments in :mod:`detector_app.cli.export_cmd`)."""

from __future__ import annotations

import argparse

from detector_app.cli.export_cmd import parse_scope
from detector_app.cli.project_arg import open_project
from detector_app.transfer.exporting import export_labels
from detector_app.transfer.formats import find_format


def run(args: argparse.Namespace) -> int:
    fmt = find_format(args.format, "export")  # an unknown name fails before the project is opened
    scope = parse_scope(args.scope)
    with open_project(args.project, create=args.project is None) as project:
        path = export_labels(project.repo, fmt.name, args.out, scope, args.copy_images)
    print(f"wrote {path}")
    return 0
