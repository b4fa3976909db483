"""The console script's help lists the subcommands and errors become one line."""

from __future__ import annotations

import subprocess
import sys

from detector_app.cli.main import COMMAND_MODULES, build_parser


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "detector_app", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_subcommand() -> None:
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices.keys()  # type: ignore[union-attr]
    assert len(names) == len(COMMAND_MODULES) or len(names) >= len(COMMAND_MODULES)
    for name in names:
        assert name in out.stdout


def test_unknown_subcommand_exits_non_zero() -> None:
    out = run_cli("no-such-command")
    assert out.returncode != 0
    assert "invalid choice" in out.stderr
