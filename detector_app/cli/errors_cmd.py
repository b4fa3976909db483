"""``detector-app errors``: a model version's confusion matrix, PR curves, AP by size and biggest errors on the holdout."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("errors", help="error analysis of a model version on the holdout (runs the model)")
    add_project_argument(p)
    p.add_argument("--version", type=int, default=None, help="version id (default: the active version)")
    p.add_argument("--threshold", type=float, default=None,
                   help="score a prediction needs to count in the confusion matrix (default: the detector's, 0.5)")
    p.add_argument("--top", type=int, default=20, help="how many of the biggest errors to list (default 20)")
    p.add_argument("--size", type=int, default=None, help="input size (default: the version's training size)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--json", action="store_true", help="print JSON (every error, the full curves)")
    p.set_defaults(run="detector_app.cli.errors_run:run")
