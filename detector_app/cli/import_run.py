"""Runs ``detector-app import`` (arguments in :mod:`detector_app.cli.import_cmd`)."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import open_project
from detector_app.transfer.formats import find_format
from detector_app.transfer.importing import import_labels


def run(args: argparse.Namespace) -> int:
    fmt = find_format(args.format, "import")  # an unknown name fails before the project is opened
    with open_project(args.project) as project:
        report = import_labels(project.repo, fmt.name, args.file, args.images)
    print(report)
    return 0
