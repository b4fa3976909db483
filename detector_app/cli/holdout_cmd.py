"""``detector-app holdout``: choose the project's frozen holdout once, grow it on request, show it."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "holdout", help="choose (once) or grow the frozen evaluation images every version is scored on",
        description="The holdout is the project's test split: chosen once from the reviewed images (a fifth, "
                    "stratified by class, seeded), never trained on, never re-chosen; --grow adds images to it.")
    add_project_argument(p)
    p.add_argument("--grow", type=int, default=None, metavar="N", help="add N more reviewed images to the holdout")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.set_defaults(run="detector_app.cli.holdout_run:run")
