"""``detector-app queue``: the unreviewed images in the order a correction teaches the model most."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "queue", help="list the unreviewed images worth correcting first (uncertainty order)",
        description="Scores each unreviewed image from its stored predictions: boxes near the decision "
                    "threshold, disagreement between the two latest model versions, images no model has seen.")
    add_project_argument(p)
    p.add_argument("--limit", type=int, default=20, help="how many images to list (default 20)")
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold the scores are compared with (default: the detector's, 0.5)")
    p.add_argument("--json", action="store_true", help="print JSON (one object per image, score parts included)")
    p.set_defaults(run="detector_app.cli.queue_run:run")
