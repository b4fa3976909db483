"""``detector-app import FORMAT FILE``: add labelled images from a label file (``coco`` built in)."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector_app.cli.project_arg import add_project_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import", help="import labelled images (e.g. a COCO dataset) into a project",
                              description="Validate a label file, then add its images and boxes in one "
                                          "transaction; a bad file changes nothing.")
    p.add_argument("format", help="label format, e.g. coco")
    p.add_argument("file", type=Path, help="label file (COCO: instances JSON)")
    p.add_argument("--images", type=Path, help="folder the file's image names are relative to")
    add_project_argument(p)
    p.set_defaults(run="detector_app.cli.import_run:run")
