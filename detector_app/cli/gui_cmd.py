"""``detector-app gui``: open the desktop app (the default when no subcommand is given)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gui", help="open the desktop app (default)")
    p.add_argument("--project", type=Path, help="project folder to open")
    p.set_defaults(run="detector_app.cli.gui_run:run")
