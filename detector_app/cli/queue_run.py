"""Runs ``detector-app queue`` (arguments in :mod:`detector_app.cli.queue_cmd`); no torch."""

from __future__ import annotations

import argparse
import json

from detector_app.cli.project_arg import open_project
from detector_app.core.names import printable
from detector_app.errors import DetectorAppError
from detector_app.training.uncertainty import DECISION_THRESHOLD, format_queue, review_queue


def run(args: argparse.Namespace) -> int:
    threshold = DECISION_THRESHOLD if args.threshold is None else args.threshold
    if not 0.0 < threshold < 1.0:
        raise DetectorAppError(f"--threshold must be between 0 and 1 (exclusive), not {threshold}")
    if args.limit < 1:
        raise DetectorAppError(f"--limit must be at least 1, not {args.limit}")
    with open_project(args.project, create=False) as project:
        entries = review_queue(project.repo, args.limit, threshold)
        paths = {i.id: str(i.path) for i in project.repo.get_images([e.image_id for e in entries])}
    if args.json:
        print(json.dumps([{**e.to_dict(), "path": paths.get(e.image_id)} for e in entries], indent=1))
    else:
        print(printable(format_queue(entries, paths), multiline=True) if entries else "no unreviewed images")
    return 0
