"""Runs ``detector-app report`` (arguments in :mod:`detector_app.cli.report_cmd`): counts from the project's boxes
and review times, holdout scores cached per version (a version not scored on this holdout yet runs once)."""

from __future__ import annotations

import argparse
import json

from detector_app.cli.project_arg import open_project
from detector_app.core.names import printable
from detector_app.training.correction_report import build_report, format_report


def run(args: argparse.Namespace) -> int:
    with open_project(args.project, create=False) as project:
        report = build_report(project, device=args.device, evaluate=not args.no_eval)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(printable(format_report(report), multiline=True))
    return 0
