"""``detector-app export FORMAT OUT``: write a project's labels (``coco`` built in, plugins add more).

The arguments and the ``--scope`` rule; :mod:`detector_app.cli.export_run` runs the export.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from detector_app.cli.project_arg import add_project_argument
from detector_app.errors import DetectorAppError


class ScopeError(DetectorAppError):
    """``--scope`` is neither reviewed, all nor a list of image ids."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export labels (e.g. a COCO dataset)",
                              description="Write the project's labels in FORMAT into the folder OUT.")
    p.add_argument("format", help="label format, e.g. coco")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--scope", default="reviewed",
                   help="reviewed (default: accepted, corrected and human boxes of reviewed images), all "
                        "(every box but rejected ones) or comma-separated image ids")
    p.add_argument("--copy-images", action="store_true", help="copy the images (and video frames) into OUT/images")
    add_project_argument(p)
    p.set_defaults(run="detector_app.cli.export_run:run")


def parse_scope(text: str) -> str | Sequence[int]:
    if text in ("reviewed", "all"):
        return text
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ScopeError(f"--scope must be reviewed, all or comma-separated image ids, not {text!r}") from None
    if not ids:
        raise ScopeError("--scope lists no image ids")
    return ids
