"""``detector-app activate``: make a model version the active one, checked against the active one on the holdout."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "activate", help="activate a model version (also an earlier one: rollback) after a holdout check",
        description="Scores the version and the active one on the holdout first; a version that scores below "
                    "the active one is flagged and left inactive unless --force is given.")
    add_project_argument(p)
    p.add_argument("--version", type=int, required=True, help="id of the version to activate")
    p.add_argument("--force", action="store_true", help="activate even when it scores below the active version")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.set_defaults(run="detector_app.cli.activate_run:run")
