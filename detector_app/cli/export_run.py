"""Runs ``detector-app export`` (arguments in :mod:`detector_app.cli.export_cmd`)."""

from __future__ import annotations

import argparse

from detector_app.cli.export_cmd import parse_scope
from detector_app.cli.project_arg import open_project
from detector_app.export.registry import ExportOptions, get_exporter


def run(args: argparse.Namespace) -> int:
    exporter = get_exporter(args.format)
    options = ExportOptions(scope=parse_scope(args.scope), copy_images=args.copy_images)
    with open_project(args.project, create=args.project is None) as project:
        path = exporter.run(project.repo, args.out, options)
    print(f"wrote {path}")
    return 0
