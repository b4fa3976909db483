"""``detector-app report``: per model version, what correcting its predictions cost and how it scores on the holdout."""

from __future__ import annotations

import argparse

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="correction cost per model version beside its holdout scores",
        description="One row per model version, on the images reviewed from its predictions: acceptance rate, "
                    "adjusted / relabelled / rejected / missed boxes per image, edits per image, mean IoU of "
                    "adjusted boxes, median review seconds per image; and its mAP, AP50 and AP by object size on "
                    "the holdout (computed once per holdout and kept with the version; never trains).")
    add_project_argument(p)
    p.add_argument("--no-eval", action="store_true",
                   help="run no model: holdout scores only where already computed for this holdout")
    p.add_argument("--device", default="auto", help="where to score versions: auto (CUDA if present), cpu, cuda:N")
    p.add_argument("--json", action="store_true",
                   help="print JSON (shape documented in detector_app/training/correction_report.py)")
    p.set_defaults(run="detector_app.cli.report_run:run")
