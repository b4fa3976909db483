"""Runs ``detector-app import`` (arguments in :mod:`detector_app.cli.import_cmd`)."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import open_project
from detector_app.export.registry import get_importer


def run(args: argparse.Namespace) -> int:
    importer = get_importer(args.format)
    with open_project(args.project) as project:
        report = importer.run(project.repo, args.file, args.images)
    print(report)
    return 0
