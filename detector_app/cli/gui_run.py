"""Runs ``detector-app gui`` (arguments in :mod:`detector_app.cli.gui_cmd`): the only CLI module that loads Qt."""

from __future__ import annotations

import argparse

from detector_app.ui.app import run_app


def run(args: argparse.Namespace) -> int:
    return run_app(project=args.project)
