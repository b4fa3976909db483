"""``detector-app gui``: open the desktop app (the default when no subcommand is given)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gui", help="open the desktop app (default)")
    p.add_argument("--project", type=Path, help="project folder to open")
    p.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)  # used by docs and window tests
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that headless subcommands never load Qt.
    from detector_app.ui.app import run_app

    return run_app(project=args.project, screenshot=args.screenshot)
