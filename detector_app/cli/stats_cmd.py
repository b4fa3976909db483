"""``detector-app stats``: images by review state, boxes per class and status, and what each annotator did."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stats", help="show a project's image and label counts")
    add_project_argument(p, edits=False)
    p.set_defaults(run="detector_app.cli.stats_run:run")
