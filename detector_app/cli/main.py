"""Entry point of the ``detector-app`` console script.

Each subcommand's ``*_cmd`` module holds only its argparse registration, ``register(subparsers)``, with cheap
imports; it names the function that runs the command as ``run="module:function"`` on its parser, and
:func:`main` imports that module after parsing. So ``--help`` and the commands that run no model never import
torch, torchvision or Qt. A :class:`DetectorAppError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from detector_app import __version__
from detector_app.errors import DetectorAppError
from detector_app.logging_setup import setup_logging

# Registration modules of the subcommands, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "detector_app.cli.gui_cmd",
    "detector_app.cli.detect_cmd",
    "detector_app.cli.import_cmd",
    "detector_app.cli.export_cmd",
    "detector_app.cli.stats_cmd",
    "detector_app.cli.plugins_cmd",
    "detector_app.cli.train_cmd",
    "detector_app.cli.holdout_cmd",
    "detector_app.cli.activate_cmd",
    "detector_app.cli.queue_cmd",
    "detector_app.cli.errors_cmd",
    "detector_app.cli.report_cmd",
)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detector-app",
        description="Object detection and annotation. With no subcommand, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", title="subcommands", metavar="<subcommand>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def resolve(target: str) -> Callable[[argparse.Namespace], int | None]:
    """The function ``"package.module:function"`` names; its module (and what it needs) is imported only now."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv or ["gui"])
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(resolve(args.run)(args) or 0)
    except DetectorAppError as exc:
        from detector_app.core.names import printable

        log.debug("command failed", exc_info=True)
        print(f"error: {printable(exc)}", file=sys.stderr)  # one line, whatever names the message quotes
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
